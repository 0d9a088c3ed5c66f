/*
 * test_computeat.c - the compute-site cost model (client/plan/computeat.c):
 * which site a repair, an upload and a download pick on made-up link costs,
 * that equal costs keep the first candidate (the client), that a missing
 * link rules a site out, and the parsing of ioswitch.computeAt.
 */
#include <math.h>
#include <string.h>

#include "computeat.h"
#include "t.h"

/*
 * Links: the client (0) and hubs 1, 4 in location 1; hubs 2, 5 in location 2;
 * hubs 3, 6 in location 3. Within a location a byte costs 1, across 5; the
 * client's links cost `client_x` times that. Hub 9 is unreachable.
 */
static double client_x = 1;

static int loc(int64_t node)
{
    return node == 0 ? 1 : (int)((node - 1) % 3) + 1;
}

static double cost(void *arg, int64_t a, int64_t b)
{
    (void)arg;
    if (a == 9 || b == 9)
        return INFINITY;
    double c = loc(a) == loc(b) ? 1 : 5;
    return a == 0 || b == 0 ? c * client_x : c;
}

/* An ec(4,6) object: block i on hub i+1 (bytes 1/4 each, the object counting 1). */
static void ec46_sources(jcs_computeat_flow *in)
{
    for (int i = 0; i < 6; i++)
        in[i] = (jcs_computeat_flow){.node = i + 1, .bytes = 0.25, .group = i};
}

TEST(repair_codes_on_a_hub_and_reads_k_blocks_cheapest_for_it)
{
    client_x = 1;
    jcs_computeat_flow in[6], out[1] = {{.node = 6, .bytes = 0.25}};
    ec46_sources(in);
    /* Block 5 (on hub 6) is lost: the sources are the other five. */
    int64_t cands[] = {0, 1, 2, 3, 4, 5, 6};
    jcs_computeat_problem p = {.in = in,
                               .nin = 5,
                               .need = 4,
                               .out = out,
                               .nout = 1,
                               .cands = cands,
                               .ncands = 7,
                               .cost = cost};
    double c;
    long best = jcs_computeat_choose(&p, &c);
    /* At the client (location 1): blocks from hubs 1, 4 (1 each) and 2, 3 (5 each), x 0.25,
     * = 3, then block 5 out to hub 6 in location 3: 1.25; 4.25 in all. At hub 1: its own
     * block (0), hub 4's (1), two across (5 each), x 0.25 = 2.75, out 1.25: 4.0. Every hub
     * costs 4.0 (each spares one block's trip), so the first hub among equals wins. */
    T_ASSERT(best >= 0);
    T_EQ_INT(cands[best], 1);
    T_ASSERT(fabs(c - 4.0) < 1e-9, "(cost %g)", c);
    T_ASSERT(fabs(jcs_computeat_cost(&p, 0, NULL, NULL) - 4.25) < 1e-9);
    T_ASSERT(fabs(jcs_computeat_cost(&p, 6, NULL, NULL) - 4.0) < 1e-9);
    size_t picked[6], np = 0;
    (void)jcs_computeat_cost(&p, 1, picked, &np);
    T_EQ_INT(np, 4);
    T_EQ_INT(in[picked[0]].node, 1); /* its own block first: it crosses no link */
    T_EQ_INT(in[picked[1]].node, 4); /* then the one in its location */
    /* The target hub 6 reads block 2 from hub 3 (same location) before the others. */
    (void)jcs_computeat_cost(&p, 6, picked, &np);
    T_EQ_INT(in[picked[0]].node, 3);
    /* Without the client among the candidates (upkeep), a hub is chosen all the same. */
    p.cands = cands + 1;
    p.ncands = 6;
    best = jcs_computeat_choose(&p, &c);
    T_EQ_INT(p.cands[best], 1);
}

TEST(equal_costs_keep_the_first_candidate)
{
    /* One location, every link 1: the client first keeps today's behaviour for transfers. */
    jcs_computeat_flow in[6], out[1] = {{.node = 0, .bytes = 1}};
    ec46_sources(in);
    for (int i = 0; i < 6; i++)
        in[i].node = 1; /* all on hub 1 (location 1, as the client) */
    int64_t cands[] = {0, 1};
    jcs_computeat_problem p = {.in = in,
                               .nin = 6,
                               .need = 4,
                               .out = out,
                               .nout = 1,
                               .cands = cands,
                               .ncands = 2,
                               .cost = cost};
    client_x = 1;
    double c;
    /* Client: 4 x 0.25 in = 1; hub 1: 0 in, 1 out: also 1. Equal: the client stays. */
    T_EQ_INT(jcs_computeat_choose(&p, &c), 0);
    T_ASSERT(fabs(c - 1) < 1e-9);
    /* The other order keeps the hub: the tie rule is the caller's order, not a preference. */
    int64_t rev[] = {1, 0};
    p.cands = rev;
    T_EQ_INT(jcs_computeat_choose(&p, &c), 0);
    T_EQ_INT(rev[0], 1);
}

TEST(upload_stays_on_the_client_unless_its_uplink_is_dear)
{
    /* ec(4,6) upload from the client onto hubs 1..6. */
    jcs_computeat_flow in[1] = {{.node = 0, .bytes = 1}}, out[6];
    for (int i = 0; i < 6; i++)
        out[i] = (jcs_computeat_flow){.node = i + 1, .bytes = 0.25};
    int64_t cands[] = {0, 1, 2, 3, 4, 5, 6};
    jcs_computeat_problem p = {
        .in = in, .nin = 1, .out = out, .nout = 6, .cands = cands, .ncands = 7, .cost = cost};
    /* Equal weights: client 0.25 x (1+5+5+1+5+5) = 5.5; hub 1: 1 + 0.25 x (5+5+1+5+5) = 6.25. */
    client_x = 1;
    double c;
    T_EQ_INT(jcs_computeat_choose(&p, &c), 0);
    T_ASSERT(fabs(c - 5.5) < 1e-9, "(cost %g)", c);
    /* A client link ten times dearer: 55 at the client, hub 1 10 + 5.25: the object goes
     * once to the nearest hub, which encodes. */
    client_x = 10;
    long best = jcs_computeat_choose(&p, &c);
    T_EQ_INT(cands[best], 1);
    T_ASSERT(fabs(c - 15.25) < 1e-9, "(cost %g)", c);
    client_x = 1;
}

TEST(download_stays_on_the_client)
{
    client_x = 1;
    jcs_computeat_flow in[6], out[1] = {{.node = 0, .bytes = 1}};
    ec46_sources(in);
    int64_t cands[] = {0, 1, 2, 3, 4, 5, 6};
    jcs_computeat_problem p = {.in = in,
                               .nin = 6,
                               .need = 4,
                               .out = out,
                               .nout = 1,
                               .cands = cands,
                               .ncands = 7,
                               .cost = cost};
    /* The object must reach the client anyway: decoding elsewhere only adds a hop. */
    T_EQ_INT(jcs_computeat_choose(&p, NULL), 0);
}

TEST(missing_links_and_too_few_sources_rule_a_site_out)
{
    client_x = 1;
    jcs_computeat_flow in[2] = {{.node = 1, .bytes = 1, .group = 0},
                                {.node = 9, .bytes = 1, .group = 0}};
    jcs_computeat_flow out[1] = {{.node = 9, .bytes = 1}};
    int64_t cands[] = {0, 1, 9};
    jcs_computeat_problem p = {.in = in,
                               .nin = 2,
                               .need = 1,
                               .out = out,
                               .nout = 1,
                               .cands = cands,
                               .ncands = 3,
                               .cost = cost};
    /* Hub 9 can be reached by nobody: only hub 9 itself, which reads its own copy. */
    double c;
    long best = jcs_computeat_choose(&p, &c);
    T_EQ_INT(cands[best], 9);
    T_ASSERT(c == 0);
    /* Two groups needed but every copy is of group 0: nowhere. */
    p.need = 2;
    T_EQ_INT(jcs_computeat_choose(&p, &c), -1);
    T_ASSERT(isinf(c));
    /* Copies of one group count once: the second copy is skipped, not double-counted. */
    size_t picked[2], np = 9;
    T_ASSERT(isinf(jcs_computeat_cost(&p, 1, picked, &np)));
    T_EQ_INT(np, 1);
    p.ncands = 0;
    T_EQ_INT(jcs_computeat_choose(&p, NULL), -1);
}

TEST(parse_names)
{
    jcs_computeat_mode m = JCS_COMPUTEAT_CLIENT;
    T_EQ_INT(jcs_computeat_parse("auto", &m), 0);
    T_EQ_INT(m, JCS_COMPUTEAT_AUTO);
    T_EQ_INT(jcs_computeat_parse("hub", &m), 0);
    T_EQ_INT(m, JCS_COMPUTEAT_HUB);
    T_EQ_INT(jcs_computeat_parse("client", &m), 0);
    T_EQ_INT(m, JCS_COMPUTEAT_CLIENT);
    T_EQ_INT(jcs_computeat_parse("Hub", &m), -1);
    T_EQ_INT(jcs_computeat_parse("", &m), -1);
    T_EQ_INT(jcs_computeat_parse(NULL, &m), -1);
    T_ASSERT(strcmp(jcs_computeat_name(JCS_COMPUTEAT_HUB), "hub") == 0);
    T_ASSERT(strcmp(jcs_computeat_name(JCS_COMPUTEAT_AUTO), "auto") == 0);
    T_ASSERT(strcmp(jcs_computeat_name(JCS_COMPUTEAT_CLIENT), "client") == 0);
}
