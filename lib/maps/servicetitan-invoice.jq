# ServiceTitan invoice -> outcome.revenue, once it is paid: a balance of 0
# on a total above 0 (amounts come as numbers or decimal strings).  An
# invoice is paid once, so the version is "paid": read again, edited or not,
# it is the same revenue.  ServiceTitan's invoice says no payment date: the
# time is modifiedOn when first read paid.  deal_id is the invoice's id.
# reads: data.id data.modifiedOn ?data.total ?data.balance ?data.customer ?data.job ?data.invoiceDate
.data as $d
| def num: if type == "string" then tonumber? // null else . end;
  ($d.total | num) as $total
| ($d.balance | num) as $balance
| if $total == null or $total <= 0 or $balance != 0 then empty else
    ($d.modifiedOn | fs_time) as $at
    | {
        kind: "outcome.revenue",
        object: "invoice:\($d.id)",
        version: "paid",
        occurred_at: $at,
        data: ({
          contact_id: ($d.customer.id | if . == null then null else tostring end),
          deal_id: ($d.id | tostring),
          amount: $total,
          currency: ($source.currency // "USD"),
          at: $at
        } | fs_nonnull)
      }
  end
