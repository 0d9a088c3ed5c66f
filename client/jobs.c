/* Placeholder until the jobs land: no scheduler, and on-demand runs say so. */
#include "jobs.h"

#include <stddef.h>

int jcs_jobs_start(struct jcs_svc *svc, jcs_jobs **out)
{
    (void)svc;
    *out = NULL;
    return 0;
}

void jcs_jobs_stop(jcs_jobs *j)
{
    (void)j;
}

int jcs_jobs_run(jcs_jobs *j, const char *name, json_t **report)
{
    (void)j;
    *report = NULL;
    return jcs_err_set(JCS_EUNAVAIL, "job %s: background jobs are not in this build yet", name);
}

int jcs_jobs_migrate_space(jcs_jobs *j, int64_t space_id)
{
    (void)j;
    return jcs_err_set(JCS_EUNAVAIL, "user space %lld: migration is not in this build yet",
                       (long long)space_id);
}
