// SPDX-License-Identifier: LGPL-2.1-or-later
// The dispatch engine behind parallelize(): see dispatcher.h for the contract.
#include "dispatcher.h"

#include "batch.hpp"
#include "worker-queue.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

namespace parallelize {

namespace {

constexpr std::size_t cache_line = 64;
constexpr std::uint32_t first_batch_capacity = 32;
// Round-robin deals a producer's items out in runs: neighbouring messages,
// allocated next to each other by the source thread, then stay on one worker
// instead of sharing cache lines between two (heavy workers(2): ~6% less CPU
// per message than runs of 1, and runs of 64 were slower again).
constexpr unsigned round_robin_run = 16;
// how far past max_queued a worker's backlog may grow while other workers run dry
constexpr std::int64_t hard_water_factor = 4;
// A worker that is idle whenever a batch reaches it keeps up with ease: each
// wake-up then costs more than the work it brings (a cheap path: a thread
// switch, and downstream threads preempted, for a few microseconds of work).
// Its next batches may grow, doubling, up to this many times batch_size; a
// worker found busy gets batch_size again.
constexpr std::uint32_t idle_cut_factor = 16;

std::uint64_t
clock_ns()
{
  // steady_clock is CLOCK_MONOTONIC with libstdc++ and libc++ on Linux (a vDSO call, no system call)
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::uint64_t
hash_key(const void *key, std::size_t len)
{
  // FNV-1a, then a murmur3 finaliser so that close keys land far apart
  const auto *bytes = static_cast<const unsigned char *>(key);
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < len; ++i)
    h = (h ^ bytes[i]) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

} // namespace

// State of one batching producer; only its own thread touches it, except the
// return stack, which workers push to (hence on a cache line of its own).
struct alignas(cache_line) ProducerSlot
{
  std::unique_ptr<Batch *[]> open; // per worker: the batch being filled
  std::unique_ptr<std::uint32_t[]> cut; // per worker: hand the batch over at this size
  std::unique_ptr<unsigned[]> touched; // workers given items since the last flush
  std::unique_ptr<bool[]> is_touched; // per worker: listed in touched
  unsigned touched_count = 0;
  unsigned next_worker = 0;
  Batch *spare = nullptr; // consumed batches ready for reuse
  alignas(cache_line) BatchReturnStack returned;
};

struct alignas(cache_line) WorkerSlot
{
  WorkerQueue queue;
  // the worker found its queue empty and sleeps (or is about to): the next
  // producer to hand it work wakes it, and only that one (see publish, drain)
  std::atomic<bool> idle{false};
  alignas(cache_line) WorkerGate gate;
  std::mutex closed_lock; // closing, and inline delivery while closed
  alignas(cache_line) std::atomic<std::int64_t> queued{0}; // handed over, not yet consumed
};

class Dispatcher
{
public:
  Dispatcher(const pd_options &options, const pd_callbacks &callbacks, void *user_data)
      : workers_(options.workers),
        producers_(options.producers),
        batch_limit_(options.batch_size ? options.batch_size : UINT32_MAX),
        high_water_(options.max_queued),
        low_water_(options.max_queued / 2),
        hard_water_(static_cast<std::int64_t>(options.max_queued) * hard_water_factor),
        ordered_(options.ordered != 0),
        callbacks_(callbacks),
        user_data_(user_data),
        worker_slots_(new WorkerSlot[options.workers]),
        producer_slots_(new ProducerSlot[options.producers])
  {
    for (unsigned p = 0; p < producers_; ++p)
      {
        producer_slots_[p].open.reset(new Batch *[workers_]());
        producer_slots_[p].cut.reset(new std::uint32_t[workers_]);
        std::fill_n(producer_slots_[p].cut.get(), workers_, batch_limit_);
        producer_slots_[p].touched.reset(new unsigned[workers_]);
        producer_slots_[p].is_touched.reset(new bool[workers_]());
        // staggered: several producers do not all start their runs at worker 0
        producer_slots_[p].next_worker = (p % workers_) * round_robin_run;
      }
  }

  ~Dispatcher()
  {
    for (unsigned w = 0; w < workers_; ++w)
      Batch::free_list(worker_slots_[w].queue.take_all());
    for (unsigned p = 0; p < producers_; ++p)
      {
        ProducerSlot &slot = producer_slots_[p];
        for (unsigned w = 0; w < workers_; ++w)
          std::free(slot.open[w]);
        Batch::free_list(slot.spare);
        Batch::free_list(slot.returned.take_all());
      }
  }

  unsigned route_key(const void *key, std::size_t len) const
  {
    // Lemire's multiply-shift maps the hash onto [0, workers) without a
    // division: (hash * workers) >> 64.  Built from two 32x32->64 products,
    // as 32-bit targets have no __int128; the result is exactly that of the
    // 128-bit multiply (no sum overflows: hi <= (2^32 - 1)^2 and lo >> 32 is
    // below workers), so every key keeps its worker on every architecture.
    const std::uint64_t h = hash_key(key, len);
    const std::uint64_t hi = (h >> 32) * workers_;
    const std::uint64_t lo = (h & 0xffffffffU) * workers_;
    return static_cast<unsigned>((hi + (lo >> 32)) >> 32);
  }

  unsigned route_next(unsigned producer)
  {
    if (producer < producers_)
      {
        // counts single items; each worker gets a run of round_robin_run in a row
        unsigned &next = producer_slots_[producer].next_worker;
        unsigned worker = next / round_robin_run;
        next = (next + 1 == workers_ * round_robin_run) ? 0 : next + 1;
        return worker;
      }
    return shared_next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_;
  }

  void add(unsigned producer, unsigned worker, void *item)
  {
    if (producer >= producers_)
      return hand_off(worker, item);

    const std::uint64_t ticket = take_ticket();
    ProducerSlot &slot = producer_slots_[producer];
    Batch *batch = slot.open[worker];
    if (!batch)
      {
        WorkerGate &gate = worker_slots_[worker].gate;
        if (!gate.enter())
          return deliver_closed(worker, item, ticket);
        batch = take_spare(slot);
        slot.open[worker] = batch;
        if (!slot.is_touched[worker])
          {
            slot.is_touched[worker] = true;
            slot.touched[slot.touched_count++] = worker;
          }
      }
    else if (batch->full())
      {
        slot.open[worker] = batch =
          Batch::grow(batch, std::min<std::uint64_t>(slot.cut[worker], batch->capacity * 2ULL));
      }

    if (ordered_)
      batch->tickets()[batch->count] = ticket;
    batch->items()[batch->count++] = item;
    if (batch->count >= slot.cut[worker])
      {
        // handed over at once; the worker stays in touched and flush tells it the fetch ended
        slot.open[worker] = nullptr;
        hand_over(slot, worker, batch);
      }
  }

  void flush(unsigned producer)
  {
    if (producer >= producers_)
      return;
    ProducerSlot &slot = producer_slots_[producer];
    for (unsigned i = 0; i < slot.touched_count; ++i)
      {
        unsigned worker = slot.touched[i];
        slot.is_touched[worker] = false;
        Batch *batch = slot.open[worker];
        slot.open[worker] = nullptr;
        // Every worker this fetch fed hears that it ended.  Its last batch went
        // at batch_size already (rarely: only when the fetch ended just there)?
        // Then an empty one carries the news.
        if (!batch)
          {
            if (!worker_slots_[worker].gate.enter())
              continue; // closed: what it had went on as it closed
            batch = take_spare(slot);
          }
        batch->ends_fetch = true;
        hand_over(slot, worker, batch);
      }
    // everything is handed over and no gate is held: now a producer that ran
    // far ahead of a worker waits, instead of reading (and parsing into memory) more
    if (high_water_ && fed_worker_above(slot, static_cast<std::int64_t>(high_water_)) && may_wait())
      {
        wait_for_room(slot);
        if (callbacks_.end_wait)
          callbacks_.end_wait(user_data_);
      }
    slot.touched_count = 0;
  }

  std::int64_t queued(unsigned worker) const { return worker_slots_[worker].queued.load(std::memory_order_relaxed); }

  bool has_pending(unsigned producer) const
  {
    return producer < producers_ && producer_slots_[producer].touched_count != 0;
  }

  void hand_off(unsigned worker, void *item)
  {
    const std::uint64_t ticket = take_ticket();
    WorkerGate &gate = worker_slots_[worker].gate;
    if (!gate.enter())
      return deliver_closed(worker, item, ticket);
    Batch *batch = Batch::allocate(1, nullptr, ordered_);
    if (ordered_)
      batch->tickets()[0] = ticket;
    batch->items()[0] = item;
    batch->count = 1;
    batch->ends_fetch = true;
    publish(worker, batch);
  }

  // the worker is idle from the start: its first batch wakes it
  void open(unsigned worker)
  {
    worker_slots_[worker].idle.store(true, std::memory_order_relaxed);
    worker_slots_[worker].gate.open();
  }

  std::size_t drain(unsigned worker)
  {
    std::size_t consumed = 0;
    WorkerSlot &slot = worker_slots_[worker];
    WorkerQueue &queue = slot.queue;
    for (;;)
      {
        Batch *batch = queue.take_all();
        if (!batch)
          {
            // About to sleep: say so, then look once more.  A producer pushes,
            // then reads idle (publish); here idle is stored, then the queue
            // read: with a full fence on both sides, one of the two sees the
            // other's store, so a batch is never left without a wake-up.
            slot.idle.store(true, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (queue.empty())
              {
                if (consumed && callbacks_.idle)
                  callbacks_.idle(user_data_, worker);
                return consumed;
              }
            // a producer came in between; a wake-up it may have sent finds nothing
            slot.idle.store(false, std::memory_order_relaxed);
            continue;
          }
        do
          {
            Batch *next = batch->next;
            const std::uint32_t count = batch->count;
            const bool ends_fetch = batch->ends_fetch;
            if (count && callbacks_.taken)
              callbacks_.taken(user_data_, worker, batch->handed_over_ns, count);
            if (count)
              callbacks_.consume(user_data_, worker, batch->items(), batch->tickets(), count);
            consumed += count;
            Batch::release(batch);
            consumed_from_queue(worker, count);
            if (ends_fetch && callbacks_.fetch_done)
              callbacks_.fetch_done(user_data_, worker);
            batch = next;
          }
        while (batch);
      }
  }

  std::size_t close(unsigned worker)
  {
    WorkerSlot &slot = worker_slots_[worker];
    std::size_t consumed = 0;
    // producers hold the gate only until their current batch is handed over
    for (unsigned attempt = 0;; ++attempt)
      {
        consumed += drain(worker);
        {
          // held from closing through the last drain: a producer that finds the
          // gate closed waits here, so its inline item follows everything queued
          std::lock_guard<std::mutex> lock(slot.closed_lock);
          if (slot.gate.try_close())
            {
              consumed += drain(worker);
              wake_waiting_producers();
              return consumed;
            }
        }
        if (attempt < 64)
          std::this_thread::yield();
        else
          std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
  }

private:
  bool may_wait() { return !callbacks_.begin_wait || callbacks_.begin_wait(user_data_); }

  Batch *take_spare(ProducerSlot &slot)
  {
    if (!slot.spare)
      slot.spare = slot.returned.take_all();
    Batch *batch = slot.spare;
    if (batch)
      {
        slot.spare = batch->next;
        batch->next = nullptr;
        return batch;
      }
    return Batch::allocate(std::min(batch_limit_, first_batch_capacity), &slot.returned, ordered_);
  }

  // the caller entered the worker's gate; this leaves it.  Returns whether
  // the worker was idle (and this woke it).
  bool publish(unsigned worker, Batch *batch)
  {
    WorkerSlot &slot = worker_slots_[worker];
    const std::uint32_t count = batch->count;
    if (callbacks_.queued)
      callbacks_.queued(user_data_, worker, count);
    // once per batch: what waits how long is asked per hand-off, not per item
    if (callbacks_.taken)
      batch->handed_over_ns = clock_ns();
    slot.queued.fetch_add(count, std::memory_order_relaxed);
    slot.queue.push(batch);
    // pairs with drain(): see there; the exchange lets one producer wake it
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool was_idle =
      slot.idle.load(std::memory_order_relaxed) && slot.idle.exchange(false, std::memory_order_acq_rel);
    if (was_idle)
      callbacks_.wake(user_data_, worker);
    // only now: a worker closes once no producer is inside, so it is still there to wake
    slot.gate.leave();
    return was_idle;
  }

  // a batching producer's hand-off: the next batch for this worker is cut
  // larger if it had to be woken for this one (see idle_cut_factor)
  void hand_over(ProducerSlot &slot, unsigned worker, Batch *batch)
  {
    const bool was_idle = publish(worker, batch);
    std::uint32_t &cut = slot.cut[worker];
    if (!was_idle || batch_limit_ == UINT32_MAX)
      cut = batch_limit_;
    else if (cut < batch_limit_ * idle_cut_factor)
      cut = std::min(cut * 2, batch_limit_ * idle_cut_factor);
  }

  void consumed_from_queue(unsigned worker, std::uint32_t count)
  {
    WorkerSlot &slot = worker_slots_[worker];
    const std::int64_t left = slot.queued.fetch_sub(count, std::memory_order_relaxed) - count;
    // Store buffering: the worker stores queued then loads producers_waiting_,
    // a producer stores producers_waiting_ then loads queued.  Without a full
    // fence on both sides each may miss the other's store (legal on arm64 and
    // even x86), and the producer would sleep until its timed wait ends.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (left <= low_water_ && producers_waiting_.load(std::memory_order_relaxed))
      wake_waiting_producers();
  }

  void wake_waiting_producers()
  {
    std::lock_guard<std::mutex> lock(room_lock_);
    room_.notify_all();
  }

  bool fed_worker_above(const ProducerSlot &slot, std::int64_t mark) const
  {
    for (unsigned i = 0; i < slot.touched_count; ++i)
      if (queued(slot.touched[i]) > mark)
        return true;
    return false;
  }

  bool some_worker_needs_work() const
  {
    for (unsigned w = 0; w < workers_; ++w)
      if (queued(w) <= low_water_)
        return true;
    return false;
  }

  bool some_worker_closed() const
  {
    for (unsigned w = 0; w < workers_; ++w)
      if (worker_slots_[w].gate.is_closed())
        return true;
    return false;
  }

  // Hysteresis: a producer that left a worker it fed above the high-water mark
  // waits until some worker is down to the low-water mark, so that with a
  // skewed key the other workers do not starve while the busiest one works off
  // its backlog; but never lets a worker it fed stay above the hard mark.
  // The timed wait only guards against a lost wake-up; a worker's notify ends it.
  void wait_for_room(const ProducerSlot &slot)
  {
    std::unique_lock<std::mutex> lock(room_lock_);
    producers_waiting_.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with consumed_from_queue()
    while (!some_worker_closed() && (!some_worker_needs_work() || fed_worker_above(slot, hard_water_)))
      room_.wait_for(lock, std::chrono::milliseconds(10));
    producers_waiting_.fetch_sub(1, std::memory_order_relaxed);
  }

  // not started yet, or gone (and drained: see close()); serialised so that
  // inline deliveries to one worker keep their order too
  void deliver_closed(unsigned worker, void *item, std::uint64_t ticket)
  {
    std::lock_guard<std::mutex> lock(worker_slots_[worker].closed_lock);
    callbacks_.deliver_inline(user_data_, worker, item, ticket);
  }

  // ordered: the arrival order over all producers; relaxed, as only the
  // numbers matter (each producer's own items get increasing ones)
  std::uint64_t take_ticket() { return ordered_ ? next_ticket_.fetch_add(1, std::memory_order_relaxed) : 0; }

  const unsigned workers_;
  const unsigned producers_;
  const std::uint32_t batch_limit_;
  const std::uint64_t high_water_; // 0: producers never wait
  const std::int64_t low_water_;
  const std::int64_t hard_water_;
  const bool ordered_;
  const pd_callbacks callbacks_;
  void *const user_data_;
  std::unique_ptr<WorkerSlot[]> worker_slots_;
  std::unique_ptr<ProducerSlot[]> producer_slots_;
  alignas(cache_line) std::atomic<int> producers_waiting_{0};
  std::mutex room_lock_;
  std::condition_variable room_; // a worker fell to the low-water mark, or closed
  alignas(cache_line) std::atomic<unsigned> shared_next_worker_{0};
  alignas(cache_line) std::atomic<std::uint64_t> next_ticket_{0};
};

} // namespace parallelize

using parallelize::Dispatcher;

struct pd_dispatcher
{
  template <typename... Args> explicit pd_dispatcher(Args &&...args) : engine(std::forward<Args>(args)...) {}
  Dispatcher engine;
};

extern "C" {

pd_dispatcher *
pd_dispatcher_new(const pd_options *options, const pd_callbacks *callbacks, void *user_data)
{
  if (!options || !callbacks || !callbacks->consume || !callbacks->wake || !callbacks->deliver_inline)
    return nullptr;
  if (options->workers < 1 || options->workers > PD_MAX_WORKERS || options->producers > PD_MAX_PRODUCERS ||
      options->batch_size > PD_MAX_BATCH_SIZE || options->max_queued > PD_MAX_QUEUED)
    return nullptr;
  try
    {
      return new pd_dispatcher(*options, *callbacks, user_data);
    }
  catch (...)
    {
      return nullptr;
    }
}

void
pd_dispatcher_free(pd_dispatcher *self)
{
  delete self;
}

unsigned
pd_dispatcher_route_key(const pd_dispatcher *self, const void *key, size_t key_len)
{
  return self->engine.route_key(key, key_len);
}

unsigned
pd_dispatcher_route_next(pd_dispatcher *self, unsigned producer)
{
  return self->engine.route_next(producer);
}

void
pd_dispatcher_add(pd_dispatcher *self, unsigned producer, unsigned worker, void *item)
{
  self->engine.add(producer, worker, item);
}

void
pd_dispatcher_flush(pd_dispatcher *self, unsigned producer)
{
  self->engine.flush(producer);
}

int
pd_dispatcher_has_pending(const pd_dispatcher *self, unsigned producer)
{
  return self->engine.has_pending(producer);
}

void
pd_dispatcher_hand_off(pd_dispatcher *self, unsigned worker, void *item)
{
  self->engine.hand_off(worker, item);
}

void
pd_dispatcher_open(pd_dispatcher *self, unsigned worker)
{
  self->engine.open(worker);
}

size_t
pd_dispatcher_drain(pd_dispatcher *self, unsigned worker)
{
  return self->engine.drain(worker);
}

size_t
pd_dispatcher_close(pd_dispatcher *self, unsigned worker)
{
  return self->engine.close(worker);
}

int64_t
pd_dispatcher_queued(const pd_dispatcher *self, unsigned worker)
{
  return self->engine.queued(worker);
}

uint64_t
pd_clock_ns(void)
{
  return parallelize::clock_ns();
}

} // extern "C"
