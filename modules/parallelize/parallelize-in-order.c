/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-in-order.h"
#include "parallelize-compat.h"
#include "parallelize-order.h"

#include "cfg-tree.h"
#include "messages.h"

typedef struct _InOrder
{
  LogPipe super;
  gchar *location;
} InOrder;

static void
in_order_queue(LogPipe *s, LogMessage *msg, const LogPathOptions *path_options)
{
  if (!parallelize_order_hold(s, msg, path_options))
    log_pipe_forward_msg(s, msg, path_options);
}

/* finding the parallelize() before us */

/* the last parallelize() in node's subtree (the nearest to what follows it), or NULL */
static LogPipe *
_last_parallelize_in(LogExprNode *node)
{
  LogPipe *found = NULL;
  for (LogExprNode *child = node->children; child; child = child->next)
    {
      LogPipe *in_child = _last_parallelize_in(child);
      if (in_child)
        found = in_child;
    }
  if (found)
    return found;
  const ParallelizeTicketSource *source = parallelize_order_ticket_source();
  if (node->content == ENC_PIPE && node->object && source && source->is_source((LogPipe *) node->object))
    return (LogPipe *) node->object;
  return NULL;
}

/* the mirror of parallelize-path.c: the siblings before us at every level up, nearest first */
static LogPipe *
_find_parallelize_before(LogExprNode *node)
{
  for (; node && node->parent; node = node->parent)
    {
      LogPipe *found = NULL;
      for (LogExprNode *sibling = node->parent->children; sibling && sibling != node; sibling = sibling->next)
        {
          LogPipe *in_sibling = _last_parallelize_in(sibling);
          if (in_sibling)
            found = in_sibling;
        }
      if (found)
        return found;
    }
  return NULL;
}

static void
_resolve_location(InOrder *self)
{
  if (self->location)
    return;
  gchar buf[256];
  self->location =
    g_strdup(self->super.expr_node ? log_expr_node_format_location(self->super.expr_node, buf, sizeof(buf))
                                   : IN_ORDER_NAME "()");
}

static gboolean
in_order_init(LogPipe *s)
{
  InOrder *self = (InOrder *) s;

  _resolve_location(self);
  LogPipe *parallelize = _find_parallelize_before(s->expr_node);
  if (!parallelize)
    {
      msg_warning("in-order(): no parallelize() before it in its log path, messages pass unchanged",
                  evt_tag_str("location", self->location),
                  evt_tag_str("hint", "put parallelize() (or worker-pool()) before in-order() in the same log path"));
      return TRUE;
    }
  parallelize_order_ticket_source()->request_tickets(parallelize);
  msg_verbose("in-order(): restoring the order of parallelize()", evt_tag_str("location", self->location));
  return TRUE;
}

static LogPipe *
in_order_clone(LogPipe *s)
{
  InOrder *self = (InOrder *) s;
  LogPipe *cloned = in_order_new(s->cfg);
  in_order_set_location(cloned, self->location);
  return cloned;
}

static void
in_order_free(LogPipe *s)
{
  InOrder *self = (InOrder *) s;

  g_free(self->location);
  log_pipe_free_method(s);
}

void
in_order_set_location(LogPipe *s, const gchar *location)
{
  InOrder *self = (InOrder *) s;

  g_free(self->location);
  self->location = g_strdup(location);
}

LogPipe *
in_order_new(GlobalConfig *cfg)
{
  InOrder *self = g_new0(InOrder, 1);

  log_pipe_init_instance(&self->super, cfg);
  self->super.init = in_order_init;
  /* the message may move to the thread that releases it */
  self->super.flags |= PARALLELIZE_PIF_SYNC_FILTERX;
  self->super.queue = in_order_queue;
  self->super.clone = in_order_clone;
  self->super.free_fn = in_order_free;
  return &self->super;
}
