# QuickBooks Online Invoice -> outcome.revenue, only for a paid invoice
# (Balance 0, TotalAmt above 0) that no Payment paid: one closed by a
# credit memo, a journal entry or a deposit.  An invoice a Payment paid
# counts through quickbooks-payment.jq (payments carry the money and its
# date), so the same money is never counted twice.  An invoice is paid
# once: the version is "paid".  at is MetaData.LastUpdatedTime, the change
# that paid it; the currency is CurrencyRef, else the source's.
# reads: data.Id ?data.status ?data.Balance ?data.TotalAmt ?data.LinkedTxn ?data.CustomerRef ?data.CurrencyRef
# reads: ?data.MetaData ?data.DocNumber ?data.TxnDate
.data as $d
| if $d.status == "Deleted" or $d.Balance != 0 or (($d.TotalAmt // 0) <= 0)
     or any($d.LinkedTxn // [] | .[]; .TxnType == "Payment") then empty else
    ($d.MetaData.LastUpdatedTime | fs_time) as $at
    | {
        kind: "outcome.revenue",
        object: "invoice:\($d.Id)",
        version: "paid",
        occurred_at: $at,
        data: ({
          contact_id: ($d.CustomerRef.value | fs_clean),
          deal_id: ($d.Id | tostring),
          amount: $d.TotalAmt,
          currency: (($d.CurrencyRef.value | fs_clean) // $source.currency // "USD"),
          at: $at
        } | fs_nonnull)
      }
  end
