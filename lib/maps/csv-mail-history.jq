# A CSV of past mailings (fs-pull --as mail-history csv:FILE) -> mail.status
# history for the pilot's baseline: one event per date the row carries,
# "sent" at the sent date, "delivered" at the delivered date, "returned" at
# the returned date (a row with none of them gives no event).  Header names
# are matched loosely, as for contacts.  vendor defaults to "history"; the
# piece id, when the export has none, is made from contact, campaign and
# sent date, so the same row read again gives the same events.
#
# Dates: fs_export_time (common.jq): RFC 3339, ISO, epoch milliseconds or US
# month-first, read as UTC; anything else sends the row to the dead-letter
# queue naming the column.
# reads: ?data.*
.data as $raw
| ($raw | with_entries(.key |= fs_key)) as $r
| ($r | fs_pick(["contact_id", "id", "record_id", "customer_id", "hs_object_id"]) | fs_clean) as $contact
| ($r | fs_pick(["campaign", "campaign_name", "campaign_id"]) | fs_clean) as $campaign
| ($raw | fs_pick_raw(["sent_at", "mailed_at", "date_sent", "sent_date", "sent", "mail_date", "mailed", "send_date",
                     "date"]) | fs_export_time) as $sent
| ($raw | fs_pick_raw(["delivered_at", "date_delivered", "delivered_date", "delivered", "delivery_date"])
   | fs_export_time) as $delivered
| ($raw | fs_pick_raw(["returned_at", "date_returned", "returned_date", "returned"]) | fs_export_time) as $returned
| (($r | fs_pick(["vendor", "provider", "mail_vendor"]) | fs_clean) // "history") as $vendor
| (($r | fs_pick(["piece_id", "mail_id", "vendor_id", "tracking_id", "letter_id", "postcard_id"]) | fs_clean)
   // "hist:\($contact // "")/\($campaign // "")/\($sent // "")") as $piece
| [["sent", $sent], ["delivered", $delivered], ["returned", $returned]][]
| select(.[1] != null)
| . as [$status, $at]
| {
    kind: "mail.status",
    object: "mail:\($piece)",
    version: "\($status)@\($at)",
    occurred_at: $at,
    data: ({
      mail_id: $piece,
      vendor: $vendor,
      vendor_id: $piece,
      contact_id: $contact,
      campaign: $campaign,
      status: $status,
      detail: "history"
    } | fs_nonnull)
  }
