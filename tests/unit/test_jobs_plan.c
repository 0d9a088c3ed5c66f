/*
 * test_jobs_plan.c - the background jobs' pure decisions: the daily
 * schedule, ChangeRedundancy's target redundancy, where new blocks go, and
 * RedundancyShrink's annealing (which copies it drops and which it never
 * may drop).
 */
#include <math.h>
#include <string.h>

#include "err.h"
#include "jobplan.h"
#include "jobs.h"
#include "shrink.h"
#include "svc.h"
#include "t.h"

#define DAY (24LL * 3600 * 1000)

TEST(next_midnight_is_the_next_utc_day_start)
{
    /* 2026-11-22T10:00:00Z = 1795341600000 ms; the next midnight is 2026-11-23T00:00:00Z. */
    T_EQ_INT(jcs_jobplan_next_midnight(1795341600000LL), 1795392000000LL);
    /* Exactly at midnight: the following one, so a run at 00:00 does not repeat at once. */
    T_EQ_INT(jcs_jobplan_next_midnight(1795392000000LL), 1795392000000LL + DAY);
    T_EQ_INT(jcs_jobplan_next_midnight(1795392000000LL - 1), 1795392000000LL);
    T_EQ_INT(jcs_jobplan_next_midnight(0), DAY);
}

TEST(target_redundancy_by_size)
{
    jcs_redundancy none = {.type = JCS_RED_NONE};
    jcs_redundancy r = jcs_jobplan_target_red(5 << 20, 5 << 20, &none);
    T_EQ_INT(r.type, JCS_RED_EC);
    T_EQ_INT(r.k, 2);
    T_EQ_INT(r.n, 3);
    T_EQ_INT(r.chunk_size, 5 << 20);
    r = jcs_jobplan_target_red((5 << 20) - 1, 5 << 20, &none);
    T_EQ_INT(r.type, JCS_RED_REP);
    T_EQ_INT(r.rep_count, 2);
    /* The client's configured EC layout wins over the default one. */
    jcs_redundancy ec46 = {.type = JCS_RED_EC, .k = 4, .n = 6, .chunk_size = 1 << 20};
    r = jcs_jobplan_target_red(100 << 20, 5 << 20, &ec46);
    T_EQ_INT(r.k, 4);
    T_EQ_INT(r.n, 6);
    /* So does a configured lrc layout: ChangeRedundancy codes large objects with it. */
    jcs_redundancy lrc = {.type = JCS_RED_LRC, .k = 4, .n = 7, .chunk_size = 1 << 20};
    lrc.ngroups = 2;
    lrc.groups[0] = lrc.groups[1] = 2;
    r = jcs_jobplan_target_red(100 << 20, 5 << 20, &lrc);
    T_ASSERT(r.type == JCS_RED_LRC && r.n == 7 && r.ngroups == 2, "type %d n %d", r.type, r.n);
    /* An empty object cannot be erasure coded usefully, even with threshold 0. */
    r = jcs_jobplan_target_red(0, 0, &none);
    T_EQ_INT(r.type, JCS_RED_REP);
    jcs_redundancy rep3 = {.type = JCS_RED_REP, .rep_count = 3};
    jcs_redundancy rep2 = {.type = JCS_RED_REP, .rep_count = 2};
    T_ASSERT(jcs_jobplan_red_satisfied(&rep3, &rep2), "rep(3) already is rep");
    T_ASSERT(!jcs_jobplan_red_satisfied(&none, &rep2), "none is not rep");
    jcs_redundancy ec23 = {.type = JCS_RED_EC, .k = 2, .n = 3, .chunk_size = 1};
    T_ASSERT(jcs_jobplan_red_satisfied(&ec46, &ec23), "ec(4,6) is re-encoded to ec(2,3)");
    T_ASSERT(!jcs_jobplan_red_satisfied(&ec46, &rep2), "ec is not rep");
}

/* Spaces 1..6: locations 1,1,2,2,3,3; distances 1,1,5,5,10,10; space 4 unusable. */
static const jcs_jobplan_cand cands[] = {
    {1, 1, 1, 2, 1}, {2, 1, 1, 3, 1},   {3, 2, 5, 20, 1},
    {4, 2, 5, 1, 0}, {5, 3, 10, 90, 1}, {6, 3, INFINITY, -1, 1},
};
#define NC (sizeof cands / sizeof cands[0])

TEST(choose_spreads_over_locations_nearest_first)
{
    int64_t out[3];
    T_OK(jcs_jobplan_choose(cands, NC, 3, NULL, 0, NULL, 0, NULL, 0, out));
    /* One per location before a second in any: 1 (loc 1), 3 (loc 2), 5 (loc 3). */
    T_EQ_INT(out[0], 1);
    T_EQ_INT(out[1], 3);
    T_EQ_INT(out[2], 5);
    /* With four, the second space of location 1 fills up; 4 (unusable) and 6 (unreachable) never.
     */
    int64_t four[4];
    T_OK(jcs_jobplan_choose(cands, NC, 4, NULL, 0, NULL, 0, NULL, 0, four));
    T_EQ_INT(four[3], 2);
}

TEST(choose_excludes_and_prefers_readers)
{
    int64_t out[2];
    int64_t excl[] = {1};
    int64_t used[] = {2}; /* the object's kept blocks are in location 2 */
    T_OK(jcs_jobplan_choose(cands, NC, 2, excl, 1, used, 1, NULL, 0, out));
    T_EQ_INT(out[0], 2); /* location 1, not excluded */
    T_EQ_INT(out[1], 5); /* location 3 before a second space in location 2 */
    int64_t prefer[] = {5};
    T_OK(jcs_jobplan_choose(cands, NC, 2, NULL, 0, NULL, 0, prefer, 1, out));
    T_EQ_INT(out[0], 5); /* the space that reads the object most */
    T_EQ_INT(out[1], 1);
}

TEST(choose_says_how_many_were_missing)
{
    int64_t out[5];
    int rc = jcs_jobplan_choose(cands, NC, 5, NULL, 0, NULL, 0, NULL, 0, out);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), "5 more user spaces") && strstr(jcs_err_msg(rc), "only 4"),
             "(%s)", jcs_err_msg(rc));
}

/* ---- shrink ---- */

static int kept(const bool *keep, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += keep[i];
    return k;
}

TEST(shrink_drops_a_surplus_far_replica_never_the_near_one)
{
    /* rep(2) with four copies: near (1), and three far ones. */
    jcs_shrink_item it[] = {{1, 0, 1, true}, {3, 0, 5, true}, {5, 0, 10, true}, {7, 0, 10, true}};
    jcs_shrink_params p = {.k = 1, .n = 1, .min_copies = 2, .seed = 42};
    bool keep[4];
    double score;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        p.seed = seed;
        T_OK(jcs_shrink_anneal(it, 4, &p, keep, &score));
        T_ASSERT(score > 0, "seed %llu", (unsigned long long)seed);
        T_ASSERT(keep[0], "the nearest copy is dropped (seed %llu)", (unsigned long long)seed);
        T_ASSERT(kept(keep, 4) >= 2 && kept(keep, 4) < 4, "kept %d copies (seed %llu)",
                 kept(keep, 4), (unsigned long long)seed);
    }
    /* The score prefers three copies (tolerance 2) to four. */
    bool all[4] = {true, true, true, true}, three[4] = {true, true, true, false};
    T_ASSERT(jcs_shrink_score(it, 4, three, &p) > jcs_shrink_score(it, 4, all, &p), "");
}

TEST(shrink_never_goes_below_the_redundancy)
{
    /* rep(2) with exactly two copies: nothing may go, whatever the score says. */
    jcs_shrink_item it[] = {{1, 0, 1, true}, {3, 0, 5, true}};
    jcs_shrink_params p = {.k = 1, .n = 1, .min_copies = 2, .seed = 7};
    bool keep[2], one[2] = {true, false};
    double score;
    T_OK(jcs_shrink_anneal(it, 2, &p, keep, &score));
    T_ASSERT(keep[0] && keep[1], "a copy of a rep(2) object with two copies was dropped");
    T_ASSERT(jcs_shrink_score(it, 2, one, &p) == 0, "one copy of rep(2) scores above 0");
    /* EC(2,3): every index must stay; only the duplicate block 0 and the pin may go. */
    jcs_shrink_item ec[] = {
        {1, 0, 1, true}, {2, 1, 5, true}, {3, 2, 5, true}, {4, 0, 10, true}, {5, -1, 10, true}};
    jcs_shrink_params pe = {.k = 2, .n = 3, .min_copies = 0, .seed = 3};
    bool ek[5];
    T_OK(jcs_shrink_anneal(ec, 5, &pe, ek, &score));
    T_ASSERT(ek[0] && ek[1] && ek[2], "an EC index lost its only block");
    T_ASSERT(!ek[3], "the far duplicate of block 0 was kept");
    bool no_idx2[5] = {true, true, false, true, true};
    T_ASSERT(jcs_shrink_score(ec, 5, no_idx2, &pe) == 0, "dropping index 2 scores above 0");
}

TEST(shrink_leaves_unreadable_objects_alone)
{
    /* Both copies unreachable: score 0, nothing changes. */
    jcs_shrink_item it[] = {{1, 0, INFINITY, true}, {3, 0, INFINITY, true}, {4, 0, INFINITY, true}};
    jcs_shrink_params p = {.k = 1, .n = 1, .min_copies = 2, .seed = 1};
    bool keep[3];
    double score;
    T_OK(jcs_shrink_anneal(it, 3, &p, keep, &score));
    T_ASSERT(score == 0 && keep[0] && keep[1] && keep[2], "");
    /* Too many spaces to weigh: refused, everything kept. */
    jcs_shrink_item many[20];
    for (int i = 0; i < 20; i++)
        many[i] = (jcs_shrink_item){i + 1, 0, 1, true};
    bool mk[20];
    int rc = jcs_shrink_anneal(many, 20, &p, mk, &score);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(kept(mk, 20) == 20, "");
    T_ASSERT(strstr(jcs_err_msg(rc), "too many"), "(%s)", jcs_err_msg(rc));
}

/* ---- the scheduler's life and on-demand runs that cannot start ---- */

TEST(jobs_start_stop_and_bad_names)
{
    /* The scheduler's first run is an hour away, so a bare service is never touched. */
    jcs_svc svc;
    memset(&svc, 0, sizeof svc);
    jcs_jobs *j = NULL;
    T_OK(jcs_jobs_start(&svc, &j));
    T_ASSERT(j != NULL, "");
    json_t *rep = NULL;
    int rc = jcs_jobs_run(j, "Defrag", &rep);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(rep == NULL, "a report for an unknown job");
    T_ASSERT(strstr(jcs_err_msg(rc), "\"Defrag\"") && strstr(jcs_err_msg(rc), "RedundancyRecover"),
             "(%s)", jcs_err_msg(rc));
    jcs_jobs_stop(j);
    /* Without the jobs (jcs serve failed to start them): a clear 503, not a crash. */
    rc = jcs_jobs_run(NULL, "ShardStoreGC", &rep);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), "ShardStoreGC"), "(%s)", jcs_err_msg(rc));
    rc = jcs_jobs_migrate_space(NULL, 9);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), "user space 9"), "(%s)", jcs_err_msg(rc));
    jcs_jobs_stop(NULL);
}
