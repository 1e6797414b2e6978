# QuickBooks Online Payment -> outcome.revenue: the money received, when it
# was received.  Payments are what count: an invoice paid by payments
# counts through them (quickbooks-invoice.jq leaves it), so the same money
# is never counted twice, and a part payment counts when it comes.  A
# payment counts once (the version is "received": read again or edited, it
# is the same revenue); a voided (amount 0) or deleted one counts nothing.
# deal_id is the first invoice the payment pays, else the payment itself
# ("payment:ID"); at is TxnDate (a date: midnight UTC).  The currency is
# CurrencyRef, else the source's (default USD).  contact_id is the
# QuickBooks customer's Id.
# reads: data.Id ?data.status ?data.TotalAmt ?data.TxnDate ?data.CustomerRef ?data.CurrencyRef ?data.Line
# reads: ?data.MetaData
.data as $d
| if $d.status == "Deleted" or (($d.TotalAmt // 0) | tonumber? // 0) <= 0 then empty else
    ($d.TxnDate // $d.MetaData.CreateTime | fs_time) as $at
    | ([$d.Line // [] | .[] | .LinkedTxn // [] | .[] | select(.TxnType == "Invoice") | .TxnId] | first) as $invoice
    | {
        kind: "outcome.revenue",
        object: "payment:\($d.Id)",
        version: "received",
        occurred_at: $at,
        data: ({
          contact_id: ($d.CustomerRef.value | fs_clean),
          deal_id: (if $invoice then ($invoice | tostring) else "payment:\($d.Id)" end),
          amount: ($d.TotalAmt | tonumber),
          currency: (($d.CurrencyRef.value | fs_clean) // $source.currency // "USD"),
          at: $at
        } | fs_nonnull)
      }
  end
