# A CSV of past mailings (fs-pull --as mail-history csv:FILE) -> mail.status
# history for the pilot's baseline: one event per date the row carries,
# "sent" at the sent date, "delivered" at the delivered date, "returned" at
# the returned date (a row with none of them gives no event).  Header names
# are matched loosely, as for contacts.  vendor defaults to "history"; the
# piece id, when the export has none, is made from contact, campaign and
# sent date, so the same row read again gives the same events.
#
# Dates, read as UTC (the export says no zone): RFC 3339 ("2026-03-14T14:05:09Z",
# with a fraction or an offset), ISO "2026-03-14" and "2026-03-14 14:05[:09]",
# epoch milliseconds, and US month-first "03/14/2026", "3/4/2026", each with an
# optional " 14:05", " 14:05:09", " 2:05 PM" or " 2:05:09 pm".  A slash date is
# always month/day/year (CRM exports in the US write them so); a two-digit year
# is not guessed.  Anything else in a date column, or a date that does not
# exist (02/30/2026), is an error naming the column and the value, so the row
# goes to the dead-letter queue with that reason.
# reads: ?data.*
def key: ascii_downcase | gsub("[^a-z0-9]+"; "_") | sub("^_"; "") | sub("_$"; "");
def pick($names): . as $row | first($names[] | $row[.] | select(. != null and . != "")) // null;
# The first of $names (normalized) that the raw row has with a value: {key, value}.
def pick_raw($names): . as $row
  | first($names[] as $n | $row | to_entries[] | select((.key | key) == $n and (.value | fs_clean) != null))
    // null;
def p2: tostring | if length < 2 then "0" + . else . end;
def leap: (. % 4 == 0 and . % 100 != 0) or . % 400 == 0;
def real_date($y; $m; $d):
  $m >= 1 and $m <= 12 and $d >= 1
  and $d <= ([31, (if ($y | leap) then 29 else 28 end), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][$m - 1]);
def hist_time:
  if . == null then null else
  .key as $col | (.value | fs_clean) as $v
  | def bad: error("column \"\($col)\": \"\($v)\" is not a date"
      + " (YYYY-MM-DD, MM/DD/YYYY or RFC 3339, optionally with a time)");
    if ($v | type) == "number" or ($v | test("^[0-9]{13}$")) then $v | fs_time
    else (($v | capture("^(?<y>[0-9]{4})-(?<m>[0-9]{2})-(?<d>[0-9]{2})(?<rest>([Tt ].*)?)$"))
          // ($v | capture("^(?<m>[0-9]{1,2})/(?<d>[0-9]{1,2})/(?<y>[0-9]{4})(?<rest>([Tt ].*)?)$"))
          // null) as $c
      | if $c == null then bad else
        ($c.y | tonumber) as $y | ($c.m | tonumber) as $m | ($c.d | tonumber) as $d
        | if real_date($y; $m; $d) | not then bad
          elif $c.rest == "" then "\($y)-\($m | p2)-\($d | p2)T00:00:00Z"
          elif ($v | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"))
          then (if ($v[11:13] | tonumber) > 23 or ($v[14:16] | tonumber) > 59 or ($v[17:19] | tonumber) > 60
                then bad else $v end)
          else (($c.rest | capture("^[Tt ]\\s*(?<h>[0-9]{1,2}):(?<mi>[0-9]{2})(:(?<s>[0-9]{2}))?(\\s*(?<ap>[AaPp][Mm]))?$"))
                  // null) as $t
            | if $t == null then bad else
              ($t.h | tonumber) as $h0 | ($t.ap // "" | ascii_downcase) as $ap
              | (if $ap == "" then $h0 elif $h0 < 1 or $h0 > 12 then 99
                 elif $ap == "am" then $h0 % 12 else $h0 % 12 + 12 end) as $h
              | ($t.mi | tonumber) as $mi | ($t.s // "0" | tonumber) as $s
              | if $h > 23 or $mi > 59 or $s > 59 then bad
                else "\($y)-\($m | p2)-\($d | p2)T\($h | p2):\($mi | p2):\($s | p2)Z" end
            end
          end
        end
    end
  end;
.data as $raw
| ($raw | with_entries(.key |= key)) as $r
| ($r | pick(["contact_id", "id", "record_id", "customer_id", "hs_object_id"]) | fs_clean) as $contact
| ($r | pick(["campaign", "campaign_name", "campaign_id"]) | fs_clean) as $campaign
| ($raw | pick_raw(["sent_at", "mailed_at", "date_sent", "sent_date", "sent", "mail_date", "mailed", "send_date",
                     "date"]) | hist_time) as $sent
| ($raw | pick_raw(["delivered_at", "date_delivered", "delivered_date", "delivered", "delivery_date"])
   | hist_time) as $delivered
| ($raw | pick_raw(["returned_at", "date_returned", "returned_date", "returned"]) | hist_time) as $returned
| (($r | pick(["vendor", "provider", "mail_vendor"]) | fs_clean) // "history") as $vendor
| (($r | pick(["piece_id", "mail_id", "vendor_id", "tracking_id", "letter_id", "postcard_id"]) | fs_clean)
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
