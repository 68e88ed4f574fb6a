/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * in-order(): messages pass it in the order they reached the nearest
 * parallelize() before it.  That parallelize() gives each message a ticket;
 * its worker forwards the message inside an order context (the instance's
 * reorder stage and the ticket); in-order() hands the message to the stage
 * under that ticket, and the stage passes it on once every earlier ticket
 * was passed on or dropped.  Without a context (no ordered parallelize()
 * before it, or a message the stage itself passes on) it lets messages through.
 */
#ifndef PARALLELIZE_IN_ORDER_H_INCLUDED
#define PARALLELIZE_IN_ORDER_H_INCLUDED

#include "logpipe.h"
#include "reorder.h"

#define IN_ORDER_NAME "in-order"

LogPipe *in_order_new(GlobalConfig *cfg);
void in_order_set_location(LogPipe *s, const gchar *location);

/* what the thread is forwarding now; stage NULL: nothing ordered */
typedef struct _ParallelizeOrderContext
{
  pd_reorder *stage;
  guint64 ticket;
  /* a worker's: in-order() collects its holds here (pd_hold), handed over with the
   * batch's done tickets in one pd_reorder_submit(); NULL: hold at once */
  GArray *holds;
} ParallelizeOrderContext;

/* returns the context it replaced, for leave() */
ParallelizeOrderContext parallelize_order_context_enter(pd_reorder *stage, guint64 ticket, GArray *holds);
void parallelize_order_context_leave(ParallelizeOrderContext outer);

/* the stage's release callback: passes a held message on from the in-order() that held it */
void in_order_release(void *user_data, void *item, void *target);

#endif
