# ServiceTitan job -> job.changed, for campaigns on jobs (on = job).  The
# status is jobStatus in lower case (scheduled, dispatched, inprogress,
# hold, completed, canceled), so trigger = status = completed fires once,
# when a job is first seen completed.  The contact is the job's customerId:
# a job moved to the survivor of a merge is the same job (job:ID), already
# completed, and fires nothing again.  The total has no currency in
# ServiceTitan: the source's (default USD).
# reads: data.id data.modifiedOn data.customerId ?data.jobStatus ?data.completedOn ?data.total
# reads: ?data.jobTypeId ?data.jobNumber ?data.locationId
.data as $d
| ($d.modifiedOn | fs_time) as $version
| {
    kind: "job.changed",
    object: "job:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      contact_id: ($d.customerId | if . == null then null else tostring end),
      status: ($d.jobStatus | fs_clean | if . == null then null else ascii_downcase end),
      type: ($d.jobTypeId | if . == null then null else tostring end),
      completed_at: ($d.completedOn | fs_time),
      total: ($d.total | if type == "string" then tonumber? // null else . end),
      currency: ($source.currency // "USD"),
      updated_at: $version
    } | fs_nonnull)
  }
