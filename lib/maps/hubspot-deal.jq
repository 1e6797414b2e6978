# HubSpot deal -> job.changed, for campaigns on jobs (on = job): one job per
# deal with an associated contact, its status the deal stage, its total the
# amount; completed_at is the close date once the deal is won.  A deal with
# no associated contact says nothing about a contact: no job.
#
# A won deal (dealstage one of the source's won_stages, default closedwon)
# is also outcome.revenue, credited to the deal's first associated contact
# (lowest id), so that a deal with two contacts is counted once.  A won deal
# without a contact or an amount fails validation and goes to the DLQ:
# revenue that cannot be credited is visible.  The revenue's version is the
# close date: the same win read again is the same event.
# reads: data.id data.properties.dealstage ?data.properties.amount ?data.properties.closedate
# reads: ?data.properties.deal_currency_code ?data.properties.* ?data.associations
# reads: ?data.updatedAt ?data.createdAt ?data.archived
.data as $d
| ($d.properties // {}) as $p
| (($source.won_stages // "closedwon") | split(",") | map(fs_clean)) as $won
| ($p.dealstage | fs_clean) as $stage
# (any, not index: libjq 1.6's array index, .[[x]], leaks what it makes.)
| any($won[]; . == $stage) as $is_won
| ($p.closedate // $d.updatedAt | fs_time) as $at
| ($d.updatedAt // $p.hs_lastmodifieddate // $p.closedate | fs_time) as $version
| ([($d.associations.contacts.results // [])[] | .id | tostring] | sort_by(tonumber? // 0) | first) as $cid
| ($p.amount | fs_clean | if type == "string" then (tonumber? // .) else . end) as $amount
| (($p.deal_currency_code | fs_clean) // $source.currency // "USD") as $currency
| (if $cid == null then empty else {
    kind: "job.changed",
    object: "job:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      contact_id: $cid,
      status: $stage,
      type: ($p.dealtype | fs_clean),
      completed_at: (if $is_won then ($p.closedate | fs_time) else null end),
      total: $amount,
      currency: $currency,
      updated_at: $version
    } | fs_nonnull)
  } end),
  (if $is_won then {
    kind: "outcome.revenue",
    object: "deal:\($d.id)",
    version: "won@\($at)",
    occurred_at: $at,
    data: ({
      contact_id: $cid,
      deal_id: ($d.id | tostring),
      amount: $amount,
      currency: $currency,
      at: $at
    } | fs_nonnull)
  } else empty end)
