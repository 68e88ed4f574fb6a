/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A message handed between threads as one pointer: its path options, and
 * whether the worker keeps it (parallelize-held.h), ride in the low bits. */
#ifndef PARALLELIZE_ITEM_H_INCLUDED
#define PARALLELIZE_ITEM_H_INCLUDED

#include "logmsg/logmsg.h"
#include "logpipe.h"

#define PARALLELIZE_ITEM_ACK_NEEDED ((guintptr) 1)
#define PARALLELIZE_ITEM_FLOW_CONTROL ((guintptr) 2)
/* the worker keeps a reference and frees the message when done (parallelize-held.h) */
#define PARALLELIZE_ITEM_WORKER_KEEPS ((guintptr) 4)
#define PARALLELIZE_ITEM_FLAGS (PARALLELIZE_ITEM_ACK_NEEDED | PARALLELIZE_ITEM_FLOW_CONTROL | PARALLELIZE_ITEM_WORKER_KEEPS)

G_STATIC_ASSERT(G_ALIGNOF(LogMessage) > PARALLELIZE_ITEM_FLAGS);

static inline void *
parallelize_item_pack(LogMessage *msg, const LogPathOptions *path_options)
{
  guintptr item = (guintptr) msg;
  if (path_options->ack_needed)
    item |= PARALLELIZE_ITEM_ACK_NEEDED;
  if (path_options->flow_control_requested)
    item |= PARALLELIZE_ITEM_FLOW_CONTROL;
  return (void *) item;
}

static inline void *
parallelize_item_mark_worker_keeps(void *item)
{
  return (void *) ((guintptr) item | PARALLELIZE_ITEM_WORKER_KEEPS);
}

static inline gboolean
parallelize_item_worker_keeps(void *item)
{
  return !!((guintptr) item & PARALLELIZE_ITEM_WORKER_KEEPS);
}

static inline LogMessage *
parallelize_item_message(void *item)
{
  return (LogMessage *) ((guintptr) item & ~PARALLELIZE_ITEM_FLAGS);
}

/* matched stays NULL: what filters after the hand-off decide cannot reach the caller's stack */
static inline LogMessage *
parallelize_item_unpack(void *item, LogPathOptions *path_options)
{
  guintptr bits = (guintptr) item;
  *path_options = (LogPathOptions) LOG_PATH_OPTIONS_INIT;
  path_options->ack_needed = !!(bits & PARALLELIZE_ITEM_ACK_NEEDED);
  path_options->flow_control_requested = !!(bits & PARALLELIZE_ITEM_FLOW_CONTROL);
  return (LogMessage *) (bits & ~PARALLELIZE_ITEM_FLAGS);
}

#endif
