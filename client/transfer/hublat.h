/*
 * client/transfer/hublat.h - recent read latencies per hub, and the delay
 * after which a read waiting on a hub is hedged (download.h).
 *
 * Every successful small read (ReadShard) of the download path is noted
 * with its hub, its size and how long it took. Per hub and size class
 * (pieces under 64 KiB, under 256 KiB, under 1 MiB, larger: a 1 MiB piece
 * takes longer than a 4 KiB one on the same hub) a ring keeps the last
 * JCS_HUBLAT_RING samples. The hedge delay of a read of that class from
 * that hub is the configured percentile of its ring
 * (downloader.hedgeAfterPercentile), never below the configured floor
 * (downloader.hedgeMinDelay); with fewer than JCS_HUBLAT_MIN_SAMPLES samples
 * it is the default delay (JCS_HUBLAT_DEFAULT_MS, or the floor when that is
 * higher). Reads that were cancelled because a faster one answered are not
 * noted: a stalled hub keeps the delay its past answers earned, so it is
 * hedged early every time rather than later and later.
 *
 * A hub that was late on JCS_HUBLAT_LATE_STREAK reads in a row (each served
 * without it: jcs_hublat_late) gets delay 0: the next reads ask the spare at
 * once, beside it (k+1 in flight from the start), until it answers within
 * its usual delay again (jcs_hublat_note ends the streak). A frozen hub then
 * costs its readers nothing but the spare's bytes.
 *
 * The module also counts hedges (for /v1/system/status). Thread-safe: one
 * mutex; the work under it is a ring copy and a sort of at most
 * JCS_HUBLAT_RING numbers. Hubs beyond JCS_HUBLAT_MAX_HUBS are not tracked
 * (they get the default delay).
 */
#ifndef JCS_CLIENT_HUBLAT_H
#define JCS_CLIENT_HUBLAT_H

#include <stdint.h>

#include "err.h"

#define JCS_HUBLAT_RING        128
#define JCS_HUBLAT_MIN_SAMPLES 8
#define JCS_HUBLAT_MAX_HUBS    1024
#define JCS_HUBLAT_DEFAULT_MS  50
#define JCS_HUBLAT_CLASSES     4
#define JCS_HUBLAT_LATE_STREAK 2

typedef struct jcs_hublat jcs_hublat;

/*
 * percentile in (0, 100): the hedge delay is that percentile of a hub's
 * recent latencies; 0 turns hedging off (jcs_hublat_delay_us returns -1).
 * min_delay_us >= 0 is the floor. JCS_EINVAL for values out of range.
 */
int jcs_hublat_new(double percentile, int64_t min_delay_us, jcs_hublat **out) JCS_MUST_USE;
void jcs_hublat_free(jcs_hublat *h);

/* Notes one successful read of bytes from hub (its address) that took us microseconds. */
void jcs_hublat_note(jcs_hublat *h, const char *hub, int64_t bytes, int64_t us);

/* A read was served without hub after it was past its hedge delay. */
void jcs_hublat_late(jcs_hublat *h, const char *hub);

/*
 * How long a read of bytes from hub may take before it is hedged, in
 * microseconds; -1 when hedging is off (h NULL or percentile 0).
 */
int64_t jcs_hublat_delay_us(jcs_hublat *h, const char *hub, int64_t bytes);

/* Counters since start. */
typedef struct jcs_hublat_counters {
    int64_t hedged;    /* reads that started a spare request */
    int64_t hedge_won; /* of those, the ones served without waiting for the late hub */
} jcs_hublat_counters;
/* A read started a spare request; then, if it was served without the late hub, _won. */
void jcs_hublat_count_hedged(jcs_hublat *h);
void jcs_hublat_count_won(jcs_hublat *h);
void jcs_hublat_counters_get(jcs_hublat *h, jcs_hublat_counters *out);

#endif
