# PostcardMania order status (polled by fs-pull postcardmania-events) -> mail.status.
# A record is an order in one status, seen first at seen_at; statuses this
# map does not know give a null status: fs-normalize keeps the piece's
# current status and the name stays in detail.
# reads: data.id data.vendor_id data.status data.seen_at
# reads: ?data.order ?data.order.extRefNbr ?data.contact_id ?data.campaign
def pcm_status:
  if . == "Pending" or . == "Pending Payment" or . == "Processing" or . == "Processed" then "queued"
  elif . == "Mailing" or . == "Mailed" or . == "Complete" then "sent"
  elif . == "Delivered" then "delivered"
  elif . == "Undeliverable" then "returned"
  elif . == "Failed" or . == "Failed Payment" then "failed"
  elif . == "Canceled" or . == "Cancelled" then "cancelled"
  else null end;
.data as $d
| {
    kind: "mail.status",
    object: "mail:\($d.vendor_id)",
    version: $d.id,
    occurred_at: ($d.seen_at | fs_time),
    data: ({
      mail_id: $d.order.extRefNbr,
      vendor: "postcardmania",
      vendor_id: $d.vendor_id,
      contact_id: $d.contact_id,
      campaign: $d.campaign,
      status: ($d.status | pcm_status),
      detail: $d.status
    } | fs_nonnull)
  }
