# Jobber invoice -> outcome.revenue, when it is paid (invoiceStatus paid;
# fs-pull jobber reads only those, webhooks name the others too).  Jobber
# has no paidAt: the time is receivedDate, else updatedAt.  An invoice is
# paid once, so the version is "paid": the same invoice read again, edited
# or not, is the same revenue.  The amount is amounts.total (else total);
# the currency is the source's (default USD).  deal_id is the invoice's id.
# reads: data.id data.updatedAt data.invoiceStatus data.client.id ?data.amounts ?data.total
# reads: ?data.receivedDate ?data.invoiceNumber ?data.jobIds ?data.subject ?data.issuedDate ?data.createdAt
.data as $d
| if ($d.invoiceStatus | fs_clean) != "paid" then empty else
    ($d.receivedDate // $d.updatedAt | fs_time) as $at
    | {
        kind: "outcome.revenue",
        object: "invoice:\($d.id)",
        version: "paid",
        occurred_at: $at,
        data: ({
          contact_id: ($d.client.id | fs_clean),
          deal_id: ($d.id | tostring),
          amount: ($d.amounts.total // $d.total),
          currency: ($source.currency // "USD"),
          at: $at
        } | fs_nonnull)
      }
  end
