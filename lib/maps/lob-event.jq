# Lob tracking event (webhook body or polled event) -> mail.status.
# Names this map does not know give a null status: fs-normalize keeps the
# piece's current status and the name stays in detail.
# reads: data.id data.event_type.id data.body.id data.date_created
# reads: ?data.body.metadata ?data.reference_id ?data.object ?data.event_type ?data.body
def lob_status:
  if . == "created" or . == "rendered_pdf" or . == "rendered_thumbnails" then "queued"
  elif . == "mailed" or . == "in_transit" or . == "in_local_area"
    or . == "processed_for_delivery" or . == "re-routed" then "sent"
  elif . == "delivered" then "delivered"
  elif . == "returned_to_sender" then "returned"
  elif . == "rejected" or . == "failed" or . == "render_failed" then "failed"
  elif . == "deleted" then "cancelled"
  else null end;
.data as $d
| ($d.event_type.id // "") as $name
| ($name | sub("^[a-z_]+\\."; "")) as $event
| ($d.body.id // $d.reference_id) as $piece
| ($d.body.metadata // {}) as $m
| {
    kind: "mail.status",
    object: "mail:\($piece)",
    version: $d.id,
    occurred_at: ($d.date_created | fs_time),
    data: ({
      mail_id: $m.event_id,
      vendor: "lob",
      vendor_id: $piece,
      contact_id: $m.contact_id,
      campaign: $m.campaign,
      status: ($event | lob_status),
      detail: $name
    } | fs_nonnull)
  }
