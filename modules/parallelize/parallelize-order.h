/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Restoring the order of parallelize()'s messages: what parallelize() and
 * in-order() share, below both of them.
 *
 * A parallelize() that an in-order() follows gives every message a ticket
 * (its place in the order it arrived) and keeps a reorder stage
 * (lib/reorder.h).  Its worker forwards each message inside an order context
 * (this thread forwards ticket T of that stage); in-order() holds what
 * reaches it under the context's ticket, and the stage passes held messages
 * on in ticket order once the tickets are done.
 *
 * in-order() has to find the parallelize() before it in the configuration
 * without depending on the element's code: the element registers, once, how
 * to recognise its pipes and ask one for tickets (a ticket source).
 */
#ifndef PARALLELIZE_ORDER_H_INCLUDED
#define PARALLELIZE_ORDER_H_INCLUDED

#include "logpipe.h"
#include "reorder.h"

/* an element whose messages can get tickets: parallelize() */
typedef struct _ParallelizeTicketSource
{
  gboolean (*is_source)(LogPipe *pipe);
  /* init time, before its workers run: give every message a ticket */
  void (*request_tickets)(LogPipe *pipe);
} ParallelizeTicketSource;

/* module init */
void parallelize_order_register_ticket_source(const ParallelizeTicketSource *source);
/* NULL until registered */
const ParallelizeTicketSource *parallelize_order_ticket_source(void);

/* One parallelize()'s ordering: its stage and, per worker, the holds and the
 * done tickets collected since the worker last reported to the stage (handed
 * over in one call). */
typedef struct _ParallelizeOrdering
{
  pd_reorder *stage;
  GPtrArray *holds; /* per worker: GArray of pd_hold */
  GPtrArray *done; /* per worker: GArray of guint64 */
} ParallelizeOrdering;

/* A worker reports its done tickets to the stage once it has this many, at
 * the end of a source's fetch, and before it sleeps.  Each report that
 * releases messages moves them on to the destinations' queues and wakes
 * their writers: per hand-off batch (100 messages) that was a writer wake-up
 * per 100 messages, 70-100 context switches per 1000 on a heavy path. */
#define PARALLELIZE_ORDER_REPORT_EVERY 1024

/* released: see pd_released_fn (what a releasing thread must move on) */
void parallelize_ordering_start(ParallelizeOrdering *self, gint workers, pd_released_fn released);
/* returns how many messages were still held and were passed on now, in ticket order */
gsize parallelize_ordering_stop(ParallelizeOrdering *self);

/* forward msg from pipe as ticket's message; worker -1: on the handing thread,
 * the ticket is done when this returns; else the worker reports the batch's
 * tickets with parallelize_ordering_batch_done() */
void parallelize_ordering_forward(ParallelizeOrdering *self,
                                  gint worker,
                                  guint64 ticket,
                                  LogPipe *pipe,
                                  LogMessage *msg,
                                  const LogPathOptions *path_options);
/* on the worker: these tickets' messages went as far as they go on this
 * thread; reported to the stage once PARALLELIZE_ORDER_REPORT_EVERY are
 * collected (then released messages went out on this thread: TRUE) */
gboolean parallelize_ordering_batch_done(ParallelizeOrdering *self, gint worker, const uint64_t *tickets, gsize count);
/* on the worker, at the end of a fetch and before it sleeps: report what is
 * collected; FALSE when there was nothing */
gboolean parallelize_ordering_report(ParallelizeOrdering *self, gint worker);

/* in-order(): holds msg for target under the current context's ticket; FALSE
 * when the thread forwards nothing ordered (then pass it on yourself) */
gboolean parallelize_order_hold(LogPipe *target, LogMessage *msg, const LogPathOptions *path_options);

#endif
