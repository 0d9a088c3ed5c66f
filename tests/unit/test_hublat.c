/* Per-hub latency rings: the hedge delay is the percentile of a hub's recent reads of that
 * size, with a floor, and a default until enough reads were seen. */
#include <string.h>

#include "hublat.h"
#include "t.h"

TEST(default_until_enough_samples_then_the_percentile)
{
    jcs_hublat *h;
    T_OK(jcs_hublat_new(95, 1000, &h));
    /* Nothing seen: the default. */
    T_EQ_INT(jcs_hublat_delay_us(h, "hub1:1", 4096), JCS_HUBLAT_DEFAULT_MS * 1000);
    for (int i = 0; i < JCS_HUBLAT_MIN_SAMPLES - 1; i++)
        jcs_hublat_note(h, "hub1:1", 4096, 2000);
    T_EQ_INT(jcs_hublat_delay_us(h, "hub1:1", 4096), JCS_HUBLAT_DEFAULT_MS * 1000);
    /* 100 samples 1..100 ms: p95 is 95 ms (nearest rank). */
    jcs_hublat *p;
    T_OK(jcs_hublat_new(95, 0, &p));
    for (int i = 100; i >= 1; i--)
        jcs_hublat_note(p, "hub1:1", 4096, (int64_t)i * 1000);
    T_EQ_INT(jcs_hublat_delay_us(p, "hub1:1", 4096), 95000);
    jcs_hublat_free(p);
    jcs_hublat_free(h);
}

TEST(floor_holds_and_hubs_and_sizes_are_apart)
{
    jcs_hublat *h;
    T_OK(jcs_hublat_new(90, 5000, &h));
    for (int i = 0; i < 50; i++) {
        jcs_hublat_note(h, "fast:1", 1000, 300);          /* 0.3 ms: under the floor */
        jcs_hublat_note(h, "slow:1", 1000, 40000);        /* 40 ms */
        jcs_hublat_note(h, "fast:1", 1 << 20, 20000 + i); /* 1 MiB pieces: another class */
    }
    T_EQ_INT(jcs_hublat_delay_us(h, "fast:1", 1000), 5000);
    T_EQ_INT(jcs_hublat_delay_us(h, "slow:1", 1000), 40000);
    T_EQ_INT(jcs_hublat_delay_us(h, "fast:1", 2 << 20), 20044);
    /* An unknown hub, and a class never read from a known one: the default. */
    T_EQ_INT(jcs_hublat_delay_us(h, "other:1", 1000), JCS_HUBLAT_DEFAULT_MS * 1000);
    T_EQ_INT(jcs_hublat_delay_us(h, "slow:1", 100000), JCS_HUBLAT_DEFAULT_MS * 1000);
    jcs_hublat_free(h);
}

TEST(the_ring_forgets_old_samples)
{
    jcs_hublat *h;
    T_OK(jcs_hublat_new(50, 0, &h));
    for (int i = 0; i < JCS_HUBLAT_RING; i++)
        jcs_hublat_note(h, "h:1", 10, 100000); /* a slow past */
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 10), 100000);
    for (int i = 0; i < JCS_HUBLAT_RING; i++)
        jcs_hublat_note(h, "h:1", 10, 1000); /* a fast present */
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 10), 1000);
    jcs_hublat_free(h);
}

TEST(a_late_streak_hedges_at_once_until_the_hub_is_on_time)
{
    jcs_hublat *h;
    T_OK(jcs_hublat_new(95, 1000, &h));
    for (int i = 0; i < 20; i++)
        jcs_hublat_note(h, "h:1", 4096, 3000);
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 4096), 3000);
    jcs_hublat_late(h, "h:1");
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 4096), 3000); /* one late read is no streak */
    jcs_hublat_late(h, "h:1");
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 4096), 0);
    jcs_hublat_note(h, "h:1", 4096, 90000); /* answered, but late: still on the streak */
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 4096), 0);
    jcs_hublat_note(h, "h:1", 4096, 2000); /* on time: back to the percentile */
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 4096), 3000);
    jcs_hublat_free(h);
}

TEST(off_and_bad_settings)
{
    jcs_hublat *h;
    T_OK(jcs_hublat_new(0, 0, &h));
    jcs_hublat_note(h, "h:1", 10, 100);
    T_EQ_INT(jcs_hublat_delay_us(h, "h:1", 10), -1);
    T_EQ_INT(jcs_hublat_delay_us(NULL, "h:1", 10), -1);
    jcs_hublat_count_hedged(h);
    jcs_hublat_count_hedged(h);
    jcs_hublat_count_won(h);
    jcs_hublat_counters c;
    jcs_hublat_counters_get(h, &c);
    T_EQ_INT(c.hedged, 2);
    T_EQ_INT(c.hedge_won, 1);
    jcs_hublat_free(h);
    T_EQ_INT(jcs_hublat_new(100, 0, &h), JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(JCS_EINVAL), "below 100") != NULL);
    T_EQ_INT(jcs_hublat_new(-1, 0, &h), JCS_EINVAL);
    T_EQ_INT(jcs_hublat_new(95, -5, &h), JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(JCS_EINVAL), "negative") != NULL);
}
