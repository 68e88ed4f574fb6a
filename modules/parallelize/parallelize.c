/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize.h"
#include "parallelize-hotkey.h"
#include "parallelize-source-check.h"
#include "parallelize-stats.h"
#include "parallelize-worker.h"
#include "dispatcher.h"

#include "mainloop-worker.h"
#include "cfg.h"
#include "cfg-tree.h"
#include "messages.h"
#include "scratch-buffers.h"
#include "template/templates.h"

#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>

/* producer slots: one per syslog-ng I/O worker thread id (0..63) */
#define PARALLELIZE_PRODUCER_SLOTS MAIN_LOOP_MAX_WORKER_THREADS

/* a queued message: the pointer, with its path options in the low bits */
#define ITEM_ACK_NEEDED ((guintptr) 1)
#define ITEM_FLOW_CONTROL ((guintptr) 2)
#define ITEM_FLAGS (ITEM_ACK_NEEDED | ITEM_FLOW_CONTROL)

typedef struct _Parallelize Parallelize;

/* end of an I/O worker's fetch batch: hand over what its thread collected */
typedef struct _ParallelizeProducer
{
  WorkerBatchCallback flush;
  Parallelize *owner;
  unsigned slot;
} ParallelizeProducer;

struct _Parallelize
{
  LogPipe super;

  /* options */
  gint workers_option; /* -1: one per online CPU */
  gint batch_size;
  LogTemplate *partition_key;
  gchar *location;
  gint clone_index; /* 0 for the original; copies for other log paths count up */
  gint clones_made;

  /* running state, between init and deinit */
  gint worker_count;
  pd_dispatcher *dispatcher;
  ParallelizeWorker *workers;
  ParallelizeProducer producers[PARALLELIZE_PRODUCER_SLOTS];
  ParallelizeStats stats;
  ParallelizeHotKey hotkey;
};

G_STATIC_ASSERT(G_ALIGNOF(LogMessage) > ITEM_FLAGS);

static inline void *
_item_pack(LogMessage *msg, const LogPathOptions *path_options)
{
  guintptr item = (guintptr) msg;
  if (path_options->ack_needed)
    item |= ITEM_ACK_NEEDED;
  if (path_options->flow_control_requested)
    item |= ITEM_FLOW_CONTROL;
  return (void *) item;
}

/* matched stays NULL: what filters after the hand-off decide cannot reach the caller's stack */
static inline LogMessage *
_item_unpack(void *item, LogPathOptions *path_options)
{
  guintptr bits = (guintptr) item;
  *path_options = (LogPathOptions) LOG_PATH_OPTIONS_INIT;
  path_options->ack_needed = !!(bits & ITEM_ACK_NEEDED);
  path_options->flow_control_requested = !!(bits & ITEM_FLOW_CONTROL);
  return (LogMessage *) (bits & ~ITEM_FLAGS);
}

static inline void
_forward_item(Parallelize *self, void *item)
{
  LogPathOptions path_options;
  LogMessage *msg = _item_unpack(item, &path_options);
  log_pipe_forward_msg(&self->super, msg, &path_options);
}

/* dispatcher callbacks */

/* What syslog-ng's I/O workers do after each fetch batch, done after each of
 * ours: a busy worker may never return to its event loop.  The batch
 * callbacks move what destinations collected per thread into their queues
 * (one lock, one wake-up of the writer); the GC frees scratch buffers. */
static void
_end_of_batch(void)
{
  main_loop_worker_invoke_batch_callbacks();
  main_loop_worker_run_gc();
}

/* 3.38's destination queues count a thread's collected messages in 16 bits */
#define PARALLELIZE_MAX_UNFLUSHED 8192

static void
_consume(void *user_data, unsigned worker, void *const *items, size_t count)
{
  Parallelize *self = (Parallelize *) user_data;

  for (size_t i = 0; i < count; i++)
    {
      _forward_item(self, items[i]);
      if ((i + 1) % PARALLELIZE_MAX_UNFLUSHED == 0)
        _end_of_batch();
    }
  parallelize_stats_processed(&self->stats, worker, count);
  _end_of_batch();
}

static void
_wake(void *user_data, unsigned worker)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_worker_wake(&self->workers[worker]);
}

static void
_deliver_inline(void *user_data, unsigned worker, void *item)
{
  Parallelize *self = (Parallelize *) user_data;

  parallelize_stats_inline(&self->stats, 1);
  _forward_item(self, item);
}

static void
_queued(void *user_data, unsigned worker, size_t count)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_stats_assigned(&self->stats, worker, count);
}

static gpointer
_flush_producer(gpointer user_data)
{
  ParallelizeProducer *producer = (ParallelizeProducer *) user_data;

  pd_dispatcher_flush(producer->owner->dispatcher, producer->slot);
  return NULL;
}

/* the hot path, on the source's thread */

static unsigned
_route(Parallelize *self, LogMessage *msg, unsigned producer)
{
  if (!self->partition_key)
    return pd_dispatcher_route_next(self->dispatcher, producer);

  if (log_template_is_trivial(self->partition_key))
    {
      gssize len;
      const gchar *key = log_template_get_trivial_value(self->partition_key, msg, &len);
      unsigned worker = pd_dispatcher_route_key(self->dispatcher, key, len);
      parallelize_hotkey_observe(&self->hotkey, worker, key, len);
      return worker;
    }

  ScratchBuffersMarker marker;
  GString *key = scratch_buffers_alloc_and_mark(&marker);
  LogTemplateEvalOptions options = DEFAULT_TEMPLATE_EVAL_OPTIONS;
  log_template_format(self->partition_key, msg, &options, key);
  unsigned worker = pd_dispatcher_route_key(self->dispatcher, key->str, key->len);
  parallelize_hotkey_observe(&self->hotkey, worker, key->str, key->len);
  scratch_buffers_reclaim_marked(marker);
  return worker;
}

static void
parallelize_queue(LogPipe *s, LogMessage *msg, const LogPathOptions *path_options)
{
  Parallelize *self = (Parallelize *) s;

  if (!self->dispatcher)
    {
      /* workers(0): bypass */
      log_pipe_forward_msg(s, msg, path_options);
      return;
    }

  /* Shared with another branch (the path forked before us): the worker gets
   * its own copy, so it never races the source thread on the same message.
   * The copy's ack travels back to the original. */
  if (log_msg_is_write_protected(msg))
    {
      LogMessage *own = log_msg_clone_cow(msg, path_options);
      log_msg_unref(msg);
      msg = own;
    }

  gint thread_id = main_loop_worker_get_thread_id();
  unsigned producer =
    (thread_id >= 0 && thread_id < PARALLELIZE_PRODUCER_SLOTS) ? (unsigned) thread_id : PD_ANY_PRODUCER;
  unsigned worker = _route(self, msg, producer);
  void *item = _item_pack(msg, path_options);

  if (producer == PD_ANY_PRODUCER)
    {
      /* no end-of-batch callback fires on this thread: hand over at once */
      pd_dispatcher_hand_off(self->dispatcher, worker, item);
      return;
    }

  ParallelizeProducer *p = &self->producers[producer];
  if (iv_list_empty(&p->flush.list))
    main_loop_worker_register_batch_callback(&p->flush);
  pd_dispatcher_add(self->dispatcher, producer, worker, item);
}

/* lifecycle */

static gint
_resolve_worker_count(Parallelize *self)
{
  if (self->workers_option >= 0)
    return self->workers_option;

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return (gint) CLAMP(cpus, 1, PARALLELIZE_MAX_WORKERS);
}

/* where parallelize() stands: given by the log {} generator, else the parser {} it was written in */
static void
_resolve_location(Parallelize *self)
{
  if (self->location)
    return;
  gchar buf[256];
  self->location = g_strdup(
    self->super.expr_node ? log_expr_node_format_location(self->super.expr_node, buf, sizeof(buf)) : "parallelize()");
}

/* each worker's event loop takes a few descriptors (epoll, eventfd); refuse
 * here, where syslog-ng can roll back, rather than fail later where it aborts */
#define PARALLELIZE_FDS_PER_WORKER 3
#define PARALLELIZE_FD_HEADROOM 32

static gboolean
_enough_file_descriptors(Parallelize *self)
{
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return TRUE;

  GDir *fds = g_dir_open("/proc/self/fd", 0, NULL);
  if (!fds)
    return TRUE;
  gsize open_fds = 0;
  while (g_dir_read_name(fds))
    open_fds++;
  g_dir_close(fds);

  gsize needed = (gsize) self->worker_count * PARALLELIZE_FDS_PER_WORKER + PARALLELIZE_FD_HEADROOM;
  if (open_fds + needed <= limit.rlim_cur)
    return TRUE;
  msg_error("parallelize(): too few file descriptors left for the worker threads, lower workers() or raise "
            "the open files limit",
            evt_tag_int("workers", self->worker_count),
            evt_tag_long("open_files", (glong) open_fds),
            evt_tag_long("open_files_limit", (glong) limit.rlim_cur),
            evt_tag_str("location", self->location));
  return FALSE;
}

static gboolean
parallelize_init(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  _resolve_location(self);

  self->worker_count = _resolve_worker_count(self);
  if (self->worker_count > 0 && !_enough_file_descriptors(self))
    return FALSE;
  if (self->worker_count == 0)
    {
      msg_verbose("parallelize(): workers(0), messages continue on the source's thread",
                  evt_tag_str("location", self->location));
      return TRUE;
    }

  gint max_queued = getenv("PZ_MQ") ? atoi(getenv("PZ_MQ")) : MAX(PARALLELIZE_MIN_QUEUED, PARALLELIZE_QUEUED_BATCHES * (self->batch_size ?: 500));
  pd_options options = {.workers = (unsigned) self->worker_count,
                        .producers = PARALLELIZE_PRODUCER_SLOTS,
                        .batch_size = (unsigned) self->batch_size,
                        .max_queued = (unsigned) max_queued};
  pd_callbacks callbacks = {.consume = _consume, .wake = _wake, .deliver_inline = _deliver_inline, .queued = _queued};
  self->dispatcher = pd_dispatcher_new(&options, &callbacks, self);
  if (!self->dispatcher)
    {
      msg_error("parallelize(): cannot set up the dispatcher",
                evt_tag_int("workers", self->worker_count),
                evt_tag_int("batch-size", self->batch_size),
                evt_tag_str("location", self->location));
      return FALSE;
    }

  self->workers = g_new0(ParallelizeWorker, self->worker_count);
  for (gint i = 0; i < self->worker_count; i++)
    parallelize_worker_init(&self->workers[i], self->dispatcher, i, parallelize_worker_ids_from_io_range);

  gchar *stats_name =
    self->clone_index ? g_strdup_printf("%s#%d", self->location, self->clone_index) : g_strdup(self->location);
  parallelize_stats_register(&self->stats, stats_name, self->worker_count);
  g_free(stats_name);
  GlobalConfig *cfg = log_pipe_get_config(s);
  if (cfg->preprocess_config)
    parallelize_check_sources(cfg->preprocess_config->str, self->location, self->worker_count, self->batch_size);

  msg_verbose("parallelize(): starting",
              evt_tag_str("location", self->location),
              evt_tag_int("workers", self->worker_count),
              evt_tag_str("partition-key", self->partition_key ? self->partition_key->template : "(round-robin)"),
              evt_tag_int("batch-size", self->batch_size),
              evt_tag_str("worker-thread-ids", parallelize_worker_ids_from_io_range ? "io-range" : "threaded-input"));
  return TRUE;
}

/* Workers start once the whole configuration is up; until then (and after
 * they stop) messages are delivered inline.  Never fails: 3.38 asserts on a
 * FALSE here instead of rolling back, so a worker that cannot start stays
 * closed and its share is delivered inline, in order. */
static gboolean
parallelize_on_config_inited(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  for (gint i = 0; i < self->worker_count; i++)
    {
      if (!parallelize_worker_start(&self->workers[i]))
        msg_error("parallelize(): cannot start a worker thread, its messages are processed on the source's thread",
                  evt_tag_int("worker", i),
                  evt_tag_str("location", self->location));
    }
  if (self->partition_key && self->worker_count >= 2)
    parallelize_hotkey_start(&self->hotkey, &self->stats, self->location, self->worker_count);
  return TRUE;
}

static gboolean
parallelize_deinit(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  parallelize_hotkey_stop(&self->hotkey);
  /* the main loop has stopped our workers (they drained their queues) and every I/O job by now */
  for (gint i = 0; i < self->worker_count && self->workers; i++)
    parallelize_worker_clear(&self->workers[i]);
  g_clear_pointer(&self->workers, g_free);
  if (self->dispatcher)
    {
      parallelize_stats_unregister(&self->stats);
      pd_dispatcher_free(self->dispatcher);
      self->dispatcher = NULL;
    }
  self->worker_count = 0;
  return TRUE;
}

static LogPipe *
parallelize_clone(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;
  LogPipe *cloned = parallelize_new(s->cfg);
  Parallelize *copy = (Parallelize *) cloned;

  copy->workers_option = self->workers_option;
  copy->batch_size = self->batch_size;
  copy->partition_key = log_template_ref(self->partition_key);
  parallelize_set_location(cloned, self->location);
  /* an independent instance: own workers and queues, and its own counters */
  copy->clone_index = ++self->clones_made;
  return cloned;
}

static void
parallelize_free(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  log_template_unref(self->partition_key);
  g_free(self->location);
  log_pipe_free_method(s);
}

/* options */

gboolean
parallelize_set_workers(LogPipe *s, gint64 workers)
{
  Parallelize *self = (Parallelize *) s;

  if (workers < 0 || workers > PARALLELIZE_MAX_WORKERS)
    return FALSE;
  self->workers_option = (gint) workers;
  return TRUE;
}

gboolean
parallelize_set_batch_size(LogPipe *s, gint64 batch_size)
{
  Parallelize *self = (Parallelize *) s;

  if (batch_size < 0 || batch_size > PARALLELIZE_MAX_BATCH_SIZE)
    return FALSE;
  self->batch_size = (gint) batch_size;
  return TRUE;
}

gboolean
parallelize_set_partition_key(LogPipe *s, const gchar *template_text, GError **error)
{
  Parallelize *self = (Parallelize *) s;

  if (!template_text[0])
    {
      g_set_error(error,
                  LOG_TEMPLATE_ERROR,
                  LOG_TEMPLATE_ERROR_COMPILE,
                  "the template is empty; leave partition-key() out for round-robin");
      return FALSE;
    }

  LogTemplate *key = log_template_new(s->cfg, NULL);
  if (!log_template_compile(key, template_text, error))
    {
      log_template_unref(key);
      return FALSE;
    }
  log_template_unref(self->partition_key);
  self->partition_key = key;
  return TRUE;
}

void
parallelize_set_location(LogPipe *s, const gchar *location)
{
  Parallelize *self = (Parallelize *) s;

  g_free(self->location);
  self->location = g_strdup(location);
}

LogPipe *
parallelize_new(GlobalConfig *cfg)
{
  Parallelize *self = g_new0(Parallelize, 1);

  log_pipe_init_instance(&self->super, cfg);
  self->super.init = parallelize_init;
  self->super.deinit = parallelize_deinit;
  self->super.on_config_inited = parallelize_on_config_inited;
  self->super.queue = parallelize_queue;
  self->super.clone = parallelize_clone;
  self->super.free_fn = parallelize_free;

  self->workers_option = -1;
  self->batch_size = PARALLELIZE_DEFAULT_BATCH_SIZE;
  for (gint i = 0; i < PARALLELIZE_PRODUCER_SLOTS; i++)
    {
      ParallelizeProducer *producer = &self->producers[i];
      worker_batch_callback_init(&producer->flush);
      producer->flush.func = _flush_producer;
      producer->flush.user_data = producer;
      producer->owner = self;
      producer->slot = i;
    }
  return &self->super;
}
