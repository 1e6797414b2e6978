# HubSpot engagement (call, e-mail, meeting, task) -> activity.follow_up, one
# per associated contact: the evidence of the follow-up SLA.  fs-pull adds
# the associated contacts as data.associations.contacts.results (v3 shape).
# The type comes from the record's stream (calls -> call).  An engagement
# with no associated contact says nothing about a contact: no event.  The
# version is the engagement itself, so editing it later is not a second
# follow-up.
# reads: data.id ?data.properties.hs_timestamp ?data.properties.hubspot_owner_id
# reads: ?data.properties.* ?data.associations ?data.updatedAt ?data.createdAt ?data.archived
.data as $d
| ($d.properties // {}) as $p
| ((.stream // $p.hs_engagement_type // "activity") | ascii_downcase | sub("s$"; "")) as $type
| ($p.hs_timestamp // $p.hs_createdate // $d.createdAt | fs_time) as $at
| [($d.associations.contacts.results // [])[] | .id | tostring] | unique
| .[]
| . as $cid
| {
    kind: "activity.follow_up",
    object: "contact:\($cid)",
    version: "\($type)/\($d.id)",
    occurred_at: $at,
    data: ({
      contact_id: $cid,
      type: $type,
      owner: ($p.hubspot_owner_id | fs_clean),
      at: $at
    } | fs_nonnull)
  }
