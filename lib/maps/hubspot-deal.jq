# HubSpot deal won -> outcome.revenue, credited to the deal's first associated
# contact (lowest id), so that a deal with two contacts is counted once.
# Won means dealstage is one of the source's won_stages (default closedwon);
# other deals give no event.  A won deal without a contact or an amount fails
# validation and goes to the DLQ: revenue that cannot be credited is visible.
# The version is the close date: the same win read again is the same event.
# reads: data.id data.properties.dealstage ?data.properties.amount ?data.properties.closedate
# reads: ?data.properties.deal_currency_code ?data.properties.* ?data.associations
# reads: ?data.updatedAt ?data.createdAt ?data.archived
.data as $d
| ($d.properties // {}) as $p
| (($source.won_stages // "closedwon") | split(",") | map(fs_clean)) as $won
# (any, not index: libjq 1.6's array index, .[[x]], leaks what it makes.)
| ($p.dealstage | fs_clean) as $stage
| select(any($won[]; . == $stage))
| ($p.closedate // $d.updatedAt | fs_time) as $at
| ([($d.associations.contacts.results // [])[] | .id | tostring] | sort_by(tonumber? // 0) | first) as $cid
| {
    kind: "outcome.revenue",
    object: "deal:\($d.id)",
    version: "won@\($at)",
    occurred_at: $at,
    data: ({
      contact_id: $cid,
      deal_id: ($d.id | tostring),
      amount: ($p.amount | fs_clean | if type == "string" then (tonumber? // .) else . end),
      currency: (($p.deal_currency_code | fs_clean) // $source.currency // "USD"),
      at: $at
    } | fs_nonnull)
  }
