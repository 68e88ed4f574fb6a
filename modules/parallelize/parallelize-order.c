/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-order.h"
#include "parallelize-item.h"

#include "messages.h"
#include "scratch-buffers.h"

static const ParallelizeTicketSource *ticket_source;

void
parallelize_order_register_ticket_source(const ParallelizeTicketSource *source)
{
  ticket_source = source;
}

const ParallelizeTicketSource *
parallelize_order_ticket_source(void)
{
  return ticket_source;
}

/* what this thread forwards now; stage NULL: nothing ordered */
typedef struct _OrderContext
{
  pd_reorder *stage;
  guint64 ticket;
  /* a worker's: holds collect here, handed over with the batch's done tickets; NULL: hold at once */
  GArray *holds;
} OrderContext;

static __thread OrderContext current_context;

static OrderContext
_enter(pd_reorder *stage, guint64 ticket, GArray *holds)
{
  OrderContext outer = current_context;
  current_context = (OrderContext){.stage = stage, .ticket = ticket, .holds = holds};
  return outer;
}

static void
_leave(OrderContext outer)
{
  current_context = outer;
}

/* the stage's release callback: passes a held message on from the in-order() that held it */
static void
_release(void *user_data, void *item, void *target)
{
  LogPathOptions path_options;
  LogMessage *msg = parallelize_item_unpack(item, &path_options);

  /* a second in-order() further on lets it through: its order is restored already */
  OrderContext outer = _enter(NULL, 0, NULL);
  msg_set_context(msg);
  ScratchBuffersMarker marker;
  scratch_buffers_mark(&marker);
  log_pipe_forward_msg((LogPipe *) target, msg, &path_options);
  scratch_buffers_reclaim_marked(marker);
  msg_set_context(NULL);
  _leave(outer);
}

void
parallelize_ordering_start(ParallelizeOrdering *self, gint workers, pd_released_fn released)
{
  self->stage = pd_reorder_new(_release, released, NULL);
  self->holds = g_ptr_array_new_with_free_func((GDestroyNotify) g_array_unref);
  self->done = g_ptr_array_new_with_free_func((GDestroyNotify) g_array_unref);
  for (gint i = 0; i < workers; i++)
    {
      g_ptr_array_add(self->holds, g_array_new(FALSE, FALSE, sizeof(pd_hold)));
      g_ptr_array_add(self->done, g_array_new(FALSE, FALSE, sizeof(guint64)));
    }
}

/* Nothing should be held by now: the workers drained, and later deliveries were done at once */
gsize
parallelize_ordering_stop(ParallelizeOrdering *self)
{
  if (!self->stage)
    return 0;
  /* what a worker collected and had not reported (none, where it reported before sleeping) */
  for (guint i = 0; i < self->done->len; i++)
    parallelize_ordering_report(self, (gint) i);
  gsize left = pd_reorder_release_all(self->stage);
  pd_reorder_free(self->stage);
  self->stage = NULL;
  g_clear_pointer(&self->holds, g_ptr_array_unref);
  g_clear_pointer(&self->done, g_ptr_array_unref);
  return left;
}

void
parallelize_ordering_forward(ParallelizeOrdering *self,
                             gint worker,
                             guint64 ticket,
                             LogPipe *pipe,
                             LogMessage *msg,
                             const LogPathOptions *path_options)
{
  GArray *holds = worker >= 0 ? g_ptr_array_index(self->holds, worker) : NULL;
  OrderContext outer = _enter(self->stage, ticket, holds);
  log_pipe_forward_msg(pipe, msg, path_options);
  _leave(outer);
  if (worker < 0)
    pd_reorder_done(self->stage, (const uint64_t *) &ticket, 1);
}

/* released messages go out on this thread, before the call returns */
gboolean
parallelize_ordering_report(ParallelizeOrdering *self, gint worker)
{
  GArray *holds = g_ptr_array_index(self->holds, worker);
  GArray *done = g_ptr_array_index(self->done, worker);
  if (!done->len && !holds->len)
    return FALSE;
  pd_reorder_submit(self->stage, (const pd_hold *) holds->data, holds->len, (const uint64_t *) done->data, done->len);
  g_array_set_size(holds, 0);
  g_array_set_size(done, 0);
  return TRUE;
}

gboolean
parallelize_ordering_batch_done(ParallelizeOrdering *self, gint worker, const uint64_t *tickets, gsize count)
{
  GArray *done = g_ptr_array_index(self->done, worker);
  g_array_append_vals(done, tickets, (guint) count);
  if (done->len < PARALLELIZE_ORDER_REPORT_EVERY)
    return FALSE;
  parallelize_ordering_report(self, worker);
  return TRUE;
}

gboolean
parallelize_order_hold(LogPipe *target, LogMessage *msg, const LogPathOptions *path_options)
{
  if (!current_context.stage)
    return FALSE;
  /* the stage owns the reference (and the ack) until it passes the message on */
  void *item = parallelize_item_pack(msg, path_options);
  if (current_context.holds)
    {
      pd_hold hold = {.ticket = current_context.ticket, .item = item, .target = target};
      g_array_append_val(current_context.holds, hold);
    }
  else
    pd_reorder_hold(current_context.stage, current_context.ticket, item, target);
  return TRUE;
}
