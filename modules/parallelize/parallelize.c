/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize.h"
#include "parallelize-compat.h"
#include "parallelize-cpus.h"
#include "parallelize-held.h"
#include "parallelize-hotkey.h"
#include "parallelize-item.h"
#include "parallelize-names.h"
#include "parallelize-order.h"
#include "parallelize-routing-check.h"
#include "parallelize-source-check.h"
#include "parallelize-stats.h"
#include "parallelize-thread-ids.h"
#include "parallelize-worker.h"
#include "dispatcher.h"

#include "mainloop-worker.h"
#include "cfg.h"
#include "cfg-tree.h"
#include "messages.h"
#include "scratch-buffers.h"
#include "template/templates.h"

#include <iv_list.h>

/* producer slots: one per syslog-ng worker thread index (0..63 in 3.38, 0..255 in 4.x) */
#define PARALLELIZE_PRODUCER_SLOTS MAIN_LOOP_MAX_WORKER_THREADS

typedef struct _Parallelize Parallelize;

/* per worker, on its thread only (until deinit): messages it passed on since
 * it last ended a batch downstream, and the references it keeps */
typedef struct _ParallelizeWorkerProgress
{
  gsize forwarded;
  guint since_sample; /* messages since the last growth sample, while the source keeps */
  ParallelizeHeldGrowth growth;
  ParallelizeHeld held;
  gchar padding[64]; /* the next worker's fields on other lines */
} ParallelizeWorkerProgress;

/* while the source keeps the references, one message in so many is sampled */
#define PARALLELIZE_SAMPLE_EVERY 16

/* end of an I/O worker's fetch batch: hand over what its thread collected */
typedef struct _ParallelizeProducer
{
  WorkerBatchCallback flush;
  Parallelize *owner;
  unsigned slot;
  ParallelizeHeld held; /* its thread's references on the messages it handed over */
} ParallelizeProducer;

struct _Parallelize
{
  LogPipe super;

  /* options */
  gint workers_option; /* N, PARALLELIZE_WORKERS_DEFAULT or PARALLELIZE_WORKERS_AUTO */
  gint batch_size;
  gint fetch_limit;
  LogTemplate *partition_key;
  gchar *location;
  gchar *name; /* name(), or NULL: counters and log lines go by the location */

  /* running state, between init and deinit */
  gint worker_count;
  gint workers_with_id;
  guint held_capacity; /* messages a source thread or worker keeps (parallelize-held.h) */
  gint held_by; /* PARALLELIZE_HELD_BY_*: who keeps them now, as the workers' samples say */
  gboolean ordered; /* an in-order() after us asked for tickets */
  pd_dispatcher *dispatcher;
  ParallelizeOrdering ordering; /* with ordered: where in-order() holds messages */
  ParallelizeWorker *workers;
  ParallelizeWorkerProgress *progress; /* per worker */
  ParallelizeProducer producers[PARALLELIZE_PRODUCER_SLOTS];
  ParallelizeStats stats;
  ParallelizeHotKey hotkey;
};

/* dispatcher callbacks */

/* A message the worker keeps (the item says so), or one in
 * PARALLELIZE_SAMPLE_EVERY otherwise, is passed on with a reference of the
 * worker's own: whether the path made it grow is then read safely after. */
static void
_forward_one(Parallelize *self, ParallelizeWorkerProgress *progress, gint worker, void *item, const uint64_t *ticket)
{
  LogPathOptions path_options;
  LogMessage *msg = parallelize_item_unpack(item, &path_options);
  gboolean keep = parallelize_item_worker_keeps(item);
  LogMessage *own = NULL;
  if (keep || ++progress->since_sample >= PARALLELIZE_SAMPLE_EVERY)
    {
      own = log_msg_ref(msg);
      progress->since_sample = 0;
    }
  gsize before = own ? own->allocated_bytes : 0;

  if (ticket)
    parallelize_ordering_forward(&self->ordering, worker, *ticket, &self->super, msg, &path_options);
  else
    log_pipe_forward_msg(&self->super, msg, &path_options);

  if (!own)
    return;
  gint held_by = parallelize_held_sample(&progress->growth, before, own->allocated_bytes);
  if (held_by >= 0 && held_by != g_atomic_int_get(&self->held_by))
    g_atomic_int_set(&self->held_by, held_by);
  if (keep)
    parallelize_held_keep_ref(&progress->held, own, 0, 1, self->held_capacity);
  else
    log_msg_unref(own);
}

static void
_update_order_gauges(Parallelize *self)
{
  pd_reorder *stage = self->ordering.stage;
  atomic_gssize_set(&self->stats.in_order_waiting, (gssize) pd_reorder_waiting(stage));
  atomic_gssize_set(&self->stats.in_order_max_waiting, (gssize) pd_reorder_max_waiting(stage));
  atomic_gssize_set(&self->stats.in_order_head_wait_max_us, (gssize) pd_reorder_longest_head_wait_us(stage));
}

/* ordered: what the worker collected goes to the stage (released messages go
 * out on this thread) */
static void
_report_order(Parallelize *self, unsigned worker)
{
  if (self->ordered && parallelize_ordering_report(&self->ordering, (gint) worker))
    _update_order_gauges(self);
}

/* What syslog-ng's I/O workers do after each fetch batch, a worker does
 * where a source's fetch ends (see the dispatcher's fetch_done), or after
 * log-fetch-limit() messages: a busy worker may never return to its event
 * loop.  The batch callbacks move what destinations collected per thread
 * into their queues (one lock, one wake-up of the writer); the GC frees
 * scratch buffers.  Ending it per hand-off instead (every 100 messages) had
 * writers woken a hundred times as often as without parallelize(). */
static void
_end_of_batch(Parallelize *self, unsigned worker)
{
  ParallelizeWorkerProgress *progress = &self->progress[worker];
  /* released messages go out on this thread: before the end of the batch moves them on */
  _report_order(self, worker);
  main_loop_worker_invoke_batch_callbacks();
  main_loop_worker_run_gc();
  progress->forwarded = 0;
  parallelize_held_release_done(&progress->held);
}

/* ordered: the worker forwards each message inside its order context
 * (in-order() holds it under its ticket), and collects the tickets done once
 * their messages went as far as they go synchronously; the stage hears of
 * them per PARALLELIZE_ORDER_REPORT_EVERY, at the end of a fetch and before
 * the worker sleeps */
static void
_consume(void *user_data, unsigned worker, void *const *items, const uint64_t *tickets, size_t count)
{
  Parallelize *self = (Parallelize *) user_data;
  ParallelizeWorkerProgress *progress = &self->progress[worker];

  for (size_t start = 0; start < count;)
    {
      size_t end = MIN(count, start + (size_t) (self->fetch_limit - progress->forwarded));
      for (size_t i = start; i < end; i++)
        {
          /* as the source and the writer do: an error raised while processing an
           * internal() message is then marked, and syslog-ng's loop guard stops
           * it from feeding itself; and what the path takes from the scratch
           * buffers goes back after each message (a worker's batch may end only
           * thousands of messages later, where the GC would find them all) */
          msg_set_context(parallelize_item_message(items[i]));
          ScratchBuffersMarker marker;
          scratch_buffers_mark(&marker);
          _forward_one(self, progress, (gint) worker, items[i], tickets ? &tickets[i] : NULL);
          scratch_buffers_reclaim_marked(marker);
        }
      msg_set_context(NULL);
      progress->forwarded += end - start;
      if (tickets && parallelize_ordering_batch_done(&self->ordering, (gint) worker, tickets + start, end - start))
        _update_order_gauges(self);
      if (progress->forwarded >= (gsize) self->fetch_limit)
        _end_of_batch(self, worker);
      start = end;
    }
  parallelize_stats_processed(&self->stats, worker, count);
}

/* a source's fetch (or a lone hand-off) is complete on this worker: pass it on */
static void
_fetch_done(void *user_data, unsigned worker)
{
  Parallelize *self = (Parallelize *) user_data;
  _end_of_batch(self, worker);
}

static void
_wake(void *user_data, unsigned worker)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_worker_wake(&self->workers[worker]);
}

static void
_deliver_inline(void *user_data, unsigned worker, void *item, uint64_t ticket)
{
  Parallelize *self = (Parallelize *) user_data;

  LogPathOptions path_options;
  LogMessage *msg = parallelize_item_unpack(item, &path_options);

  parallelize_stats_inline(&self->stats, 1);
  if (!self->ordered)
    {
      log_pipe_forward_msg(&self->super, msg, &path_options);
      return;
    }
  parallelize_ordering_forward(&self->ordering, -1, ticket, &self->super, msg, &path_options);
  _update_order_gauges(self);
}

static void
_queued(void *user_data, unsigned worker, size_t count)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_stats_assigned(&self->stats, worker, count);
}

/* per batch a worker takes, and when it runs dry: how long messages waited, how long it was busy */
static void
_taken(void *user_data, unsigned worker, uint64_t handed_over_ns, size_t count)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_stats_taken(&self->stats, worker, handed_over_ns, pd_clock_ns(), count);
}

static void
_idle(void *user_data, unsigned worker)
{
  Parallelize *self = (Parallelize *) user_data;
  parallelize_stats_idle(&self->stats, worker, pd_clock_ns());
  /* collected tickets hold other workers' messages back: reported before it sleeps */
  _report_order(self, worker);
  /* what is done goes before it sleeps; what the writer still has waits for its next batch */
  parallelize_held_release_done(&self->progress[worker].held);
}

/* A source thread that ran ahead of the workers waits at the end of its
 * fetch, on a thread of syslog-ng's shared I/O pool.  However many sources
 * do so, one pool thread is always left for everything else (writers, other
 * sources); a source that finds no room to wait reads on, bounded by its
 * window as without parallelize(). */
static gint producers_waiting;

static int
_begin_wait(void *user_data)
{
  gint room = parallelize_thread_ids_io_threads() - 1;
  gint waiting = g_atomic_int_get(&producers_waiting);
  do
    {
      if (waiting >= room)
        return 0;
    }
  while (!g_atomic_int_compare_and_exchange_full(&producers_waiting, waiting, waiting + 1, &waiting));
  return 1;
}

static void
_end_wait(void *user_data)
{
  g_atomic_int_add(&producers_waiting, -1);
}

static gpointer
_flush_producer(gpointer user_data)
{
  ParallelizeProducer *producer = (ParallelizeProducer *) user_data;

  pd_dispatcher_flush(producer->owner->dispatcher, producer->slot);
  parallelize_held_release_done(&producer->held);
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

/* The host runs a thread's end-of-batch callbacks newest first, so ours
 * would run before those registered earlier in the same job, e.g. a
 * destination's move of this fetch's messages into its queue, which would
 * then wait with us.  Just registered, ours follows the list head: move it
 * to the tail, so that it runs (and may wait) after every other one. */
static void
_register_flush_last(ParallelizeProducer *p)
{
  main_loop_worker_register_batch_callback(&p->flush);
  struct iv_list_head *head = p->flush.list.prev;
  iv_list_del(&p->flush.list);
  iv_list_add_tail(&p->flush.list, head);
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

  gint thread_id = parallelize_thread_index();
  unsigned producer =
    (thread_id >= 0 && thread_id < PARALLELIZE_PRODUCER_SLOTS) ? (unsigned) thread_id : PD_ANY_PRODUCER;
  unsigned worker = _route(self, msg, producer);
  void *item = parallelize_item_pack(msg, path_options);

  if (producer == PD_ANY_PRODUCER)
    {
      /* no end-of-batch callback fires on this thread: hand over at once */
      pd_dispatcher_hand_off(self->dispatcher, worker, item);
      return;
    }

  ParallelizeProducer *p = &self->producers[producer];
  if (iv_list_empty(&p->flush.list))
    _register_flush_last(p);
  if (g_atomic_int_get(&self->held_by) == PARALLELIZE_HELD_BY_WORKER)
    item = parallelize_item_mark_worker_keeps(item);
  else
    parallelize_held_keep(&p->held, msg, worker, (guint) self->worker_count, self->held_capacity);
  pd_dispatcher_add(self->dispatcher, producer, worker, item);
}

/* lifecycle */

static const gchar *
_workers_option_text(gint option, gchar buf[16])
{
  if (option == PARALLELIZE_WORKERS_AUTO)
    return "auto";
  if (option == PARALLELIZE_WORKERS_DEFAULT)
    return "default";
  g_snprintf(buf, 16, "%d", option);
  return buf;
}

static gint
_resolve_worker_count(Parallelize *self)
{
  return parallelize_workers_resolve(self->workers_option);
}

/* how log lines name this instance: by its name() where it has one, else where it stands */
static EVTTAG *
_instance_tag(Parallelize *self)
{
  return self->name ? evt_tag_str("name", self->name) : evt_tag_str("location", self->location);
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

/* A thread that released messages from in-order() pushed them into the
 * destinations' per-thread inputs: move them on before another thread may
 * release later ones, which could reach the queue first.  Threads without a
 * thread id push straight into the queues (and never set up the list). */
static void
_released_in_order(void *user_data)
{
  if (parallelize_thread_index() >= 0)
    main_loop_worker_invoke_batch_callbacks();
}

/* an in-order() after us may ask for tickets after our init (it initialises
 * later): then the dispatcher is made again, before any worker runs */
static void
_create_dispatcher(Parallelize *self)
{
  if (self->dispatcher)
    pd_dispatcher_free(self->dispatcher);
  if (self->ordered && !self->ordering.stage)
    parallelize_ordering_start(&self->ordering, self->worker_count, _released_in_order);

  gint max_queued = MAX(PARALLELIZE_MIN_QUEUED, PARALLELIZE_QUEUED_BATCHES * (self->batch_size ?: 500));
  pd_options options = {.workers = (unsigned) self->worker_count,
                        .producers = PARALLELIZE_PRODUCER_SLOTS,
                        .batch_size = (unsigned) self->batch_size,
                        .max_queued = (unsigned) max_queued,
                        .ordered = self->ordered};
  pd_callbacks callbacks = {.consume = _consume,
                            .wake = _wake,
                            .deliver_inline = _deliver_inline,
                            .fetch_done = _fetch_done,
                            .queued = _queued,
                            .begin_wait = _begin_wait,
                            .end_wait = _end_wait,
                            .taken = _taken,
                            .idle = _idle};
  self->dispatcher = pd_dispatcher_new(&options, &callbacks, self);
  g_assert(self->dispatcher); /* the options were validated when parsed */
}

/* init time, from an in-order() after this instance (see parallelize-order.h) */
static void
_request_tickets(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  if (self->ordered)
    return;
  self->ordered = TRUE;
  if (self->dispatcher)
    _create_dispatcher(self);
  parallelize_stats_register_order(&self->stats);
}

static void
_stop_ordering(Parallelize *self)
{
  gsize left = parallelize_ordering_stop(&self->ordering);
  if (left)
    msg_error("in-order(): messages were still waiting at shutdown, passed on in their order",
              _instance_tag(self),
              evt_tag_int("messages", (gint) left));
}

static gboolean
parallelize_init(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  _resolve_location(self);
  /* every destination queue is created from here on */
  parallelize_thread_ids_close_reserve();

  gint wanted = _resolve_worker_count(self);
  if (wanted == 0)
    {
      msg_verbose("parallelize(): workers(0), messages continue on the source's thread", _instance_tag(self));
      return TRUE;
    }

  if (self->fetch_limit > PARALLELIZE_MAX_FETCH_LIMIT)
    {
      msg_warning("parallelize(): log-fetch-limit() is capped on this syslog-ng: its destination queues count a "
                  "thread's messages in 16 bits",
                  _instance_tag(self),
                  evt_tag_int("log-fetch-limit", self->fetch_limit),
                  evt_tag_int("used", PARALLELIZE_MAX_FETCH_LIMIT));
      self->fetch_limit = PARALLELIZE_MAX_FETCH_LIMIT;
    }

  gchar *reason;
  self->workers = parallelize_workers_create(wanted, &self->worker_count, &reason);
  self->progress = g_new0(ParallelizeWorkerProgress, MAX(self->worker_count, 1));
  if (self->worker_count < wanted)
    msg_error("parallelize(): could not start all worker threads, running with fewer",
              _instance_tag(self),
              evt_tag_int("requested", wanted),
              evt_tag_int("started", self->worker_count),
              evt_tag_str("reason", reason ? reason : "unknown"));
  g_free(reason);
  if (self->worker_count == 0)
    return TRUE; /* as workers(0): everything continues on the source's thread */

  _create_dispatcher(self);
  self->held_capacity = parallelize_held_capacity(self->fetch_limit);

  parallelize_stats_register(
    &self->stats, self->name ? self->name : self->location, self->worker_count, self->partition_key != NULL);
  if (self->ordered)
    parallelize_stats_register_order(&self->stats);
  GlobalConfig *cfg = log_pipe_get_config(s);
  if (cfg->preprocess_config)
    parallelize_check_sources(cfg->preprocess_config->str, self->location, self->worker_count, self->batch_size);
  parallelize_check_routing(s, self->location);

  gchar option_text[16];
  msg_verbose("parallelize(): starting",
              evt_tag_str("location", self->location),
              evt_tag_str("stats-id", self->stats.id),
              evt_tag_int("workers", self->worker_count),
              evt_tag_str("workers-option", _workers_option_text(self->workers_option, option_text)),
              evt_tag_int("usable-cpus", parallelize_usable_cpus()),
              evt_tag_str("partition-key",
                          self->partition_key ? parallelize_template_text(self->partition_key) : "(round-robin)"),
              evt_tag_int("batch-size", self->batch_size),
              evt_tag_int("log-fetch-limit", self->fetch_limit));
  return TRUE;
}

/* 4.x: before any pipe initialises, announce the workers' thread ids (see parallelize-thread-ids.h) */
static gboolean
parallelize_pre_config_init(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  parallelize_thread_ids_config_starting(_resolve_worker_count(self));
  return TRUE;
}

/* Workers run once the whole configuration is up; until then (and after
 * they stop) messages are delivered inline.  Never fails: syslog-ng asserts on a
 * FALSE here, so everything that can fail happened in init. */
static gboolean
parallelize_post_config_init(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  /* counters of instances this configuration no longer has (a moved line, a removed path) */
  parallelize_stats_remove_orphans();

  gint without_id = 0;
  for (gint i = 0; i < self->worker_count; i++)
    {
      gboolean io_thread_id = parallelize_thread_ids_take();
      if (!io_thread_id)
        without_id++;
      parallelize_worker_run(&self->workers[i], self->dispatcher, io_thread_id);
    }
  self->workers_with_id = self->worker_count - without_id;
  if (without_id)
    msg_warning("parallelize(): not enough thread ids for every worker, those without one take a destination "
                "queue's lock for every message. The ids were sized at startup for the workers configured then: "
                "restart syslog-ng after adding workers, or lower workers() or --worker-threads",
                _instance_tag(self),
                evt_tag_int("workers", self->worker_count),
                evt_tag_int("without_id", without_id),
                evt_tag_int("io_threads", parallelize_thread_ids_io_threads()));

  /* the key's skew every window; a hot key is reported where there are two workers or more */
  if (self->partition_key && self->worker_count >= 1)
    parallelize_hotkey_start(&self->hotkey,
                             &self->stats,
                             self->name ? "name" : "location",
                             self->name ? self->name : self->location,
                             self->worker_count);
  return TRUE;
}

/* what one keeper still holds goes now; its counts are added to the totals */
static void
_release_all_of(ParallelizeHeld *held, gsize *freed_home, gsize *let_go, gsize *at_stop)
{
  parallelize_held_release_all(held);
  *freed_home += held->freed_home;
  *let_go += held->let_go;
  *at_stop += held->at_stop;
  held->freed_home = held->let_go = held->at_stop = 0;
}

/* the workers are through by now (they drained): what the source threads
 * and the workers still hold goes, on this thread */
static void
_release_held(Parallelize *self)
{
  gsize on_source = 0, on_worker = 0, let_go = 0, at_stop = 0;
  for (gint i = 0; i < PARALLELIZE_PRODUCER_SLOTS; i++)
    _release_all_of(&self->producers[i].held, &on_source, &let_go, &at_stop);
  for (gint i = 0; self->progress && i < self->worker_count; i++)
    _release_all_of(&self->progress[i].held, &on_worker, &let_go, &at_stop);
  if (on_source + on_worker + let_go + at_stop)
    msg_debug("parallelize(): where the messages handed to the workers were freed",
              _instance_tag(self),
              evt_tag_long("on_source_thread", (glong) on_source),
              evt_tag_long("on_worker_thread", (glong) on_worker),
              evt_tag_long("by_last_user", (glong) let_go),
              evt_tag_long("at_stop", (glong) at_stop));
}

static gboolean
parallelize_deinit(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  parallelize_hotkey_stop(&self->hotkey);
  /* running workers were stopped by the main loop (they drained their queues) by now */
  parallelize_workers_destroy(self->workers, self->worker_count);
  self->workers = NULL;
  for (; self->workers_with_id > 0; self->workers_with_id--)
    parallelize_thread_ids_give_back();
  if (self->dispatcher)
    {
      parallelize_stats_unregister(&self->stats);
      pd_dispatcher_free(self->dispatcher);
      self->dispatcher = NULL;
    }
  _stop_ordering(self);
  _release_held(self);
  g_clear_pointer(&self->progress, g_free);
  self->held_by = PARALLELIZE_HELD_BY_SOURCE;
  self->worker_count = 0;
  return TRUE;
}

static LogPipe *
parallelize_clone(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;
  LogPipe *cloned = parallelize_new(s->cfg);
  Parallelize *copy = (Parallelize *) cloned;

  /* an independent instance: own workers and queues, and its own counters (see parallelize-stats.h) */
  copy->workers_option = self->workers_option;
  copy->batch_size = self->batch_size;
  copy->fetch_limit = self->fetch_limit;
  copy->partition_key = log_template_ref(self->partition_key);
  parallelize_set_location(cloned, self->location);
  copy->name = g_strdup(self->name);
  return cloned;
}

static void
parallelize_free(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  log_template_unref(self->partition_key);
  g_free(self->location);
  g_free(self->name);
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

void
parallelize_set_workers_auto(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  self->workers_option = PARALLELIZE_WORKERS_AUTO;
}

gboolean
parallelize_set_fetch_limit(LogPipe *s, gint64 fetch_limit)
{
  Parallelize *self = (Parallelize *) s;

  if (fetch_limit < 1 || fetch_limit > G_MAXINT)
    return FALSE;
  self->fetch_limit = (gint) fetch_limit;
  return TRUE;
}

/* parse time, once the options are known */
void
parallelize_options_parsed(LogPipe *s)
{
  Parallelize *self = (Parallelize *) s;

  parallelize_thread_ids_parsed(_resolve_worker_count(self));
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

/* parse time; parse_location: where the option stands, for an instance that was given no location */
gboolean
parallelize_set_name(LogPipe *s, const gchar *name, const gchar *parse_location, GError **error)
{
  Parallelize *self = (Parallelize *) s;
  const gchar *taken_by;
  const gchar *here = self->location ? self->location : parse_location;

  if (!parallelize_name_is_valid(name))
    {
      g_set_error(
        error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s': a name is letters, digits, '_', '-' and '.'", name);
      return FALSE;
    }
  if (!parallelize_names_claim(s->cfg, name, here, &taken_by))
    {
      msg_error("parallelize(): two instances with the same name() in one configuration",
                evt_tag_str("name", name),
                evt_tag_str("first", taken_by),
                evt_tag_str("second", here));
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "'%s' names another instance already", name);
      return FALSE;
    }
  g_free(self->name);
  self->name = g_strdup(name);
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
  parallelize_set_config_hooks(&self->super, parallelize_pre_config_init, parallelize_post_config_init);
  /* the message moves to another thread: FilterX changes must be in it by then */
  self->super.flags |= PARALLELIZE_PIF_SYNC_FILTERX;
  self->super.queue = parallelize_queue;
  self->super.clone = parallelize_clone;
  self->super.free_fn = parallelize_free;

  self->workers_option = PARALLELIZE_WORKERS_DEFAULT;
  self->batch_size = PARALLELIZE_DEFAULT_BATCH_SIZE;
  self->fetch_limit = PARALLELIZE_DEFAULT_FETCH_LIMIT;
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

static gboolean
_is_parallelize(LogPipe *s)
{
  return s->queue == parallelize_queue;
}

/* how in-order() finds us (see parallelize-order.h) */
const ParallelizeTicketSource parallelize_ticket_source = {
  .is_source = _is_parallelize,
  .request_tickets = _request_tickets,
};
