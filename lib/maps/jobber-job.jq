# Jobber job -> job.changed, for campaigns on jobs (on = job).  Jobber's
# jobStatus has no "completed" (requires_invoicing, archived, late, ...):
# a job with a completedAt is status completed, so that trigger = status =
# completed fires once, when a job is first seen completed; any other job
# keeps its jobStatus.  The contact is the job's client; the total has no
# currency in Jobber, so it is the source's currency (default USD).
# reads: data.id data.updatedAt data.client.id ?data.jobStatus ?data.completedAt ?data.total
# reads: ?data.title ?data.jobNumber ?data.createdAt
.data as $d
| ($d.updatedAt | fs_time) as $version
| {
    kind: "job.changed",
    object: "job:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      contact_id: ($d.client.id | fs_clean),
      status: (if $d.completedAt != null then "completed" else ($d.jobStatus | fs_clean) end),
      type: ($d.title | fs_clean),
      completed_at: ($d.completedAt | fs_time),
      total: $d.total,
      currency: ($source.currency // "USD"),
      updated_at: $version
    } | fs_nonnull)
  }
