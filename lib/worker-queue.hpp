// SPDX-License-Identifier: LGPL-2.1-or-later
// The queue in front of one worker: many producers push batches, the worker
// takes all of them at once (a Treiber stack, reversed on take), so neither
// side ever waits for a lock.
#ifndef PARALLELIZE_WORKER_QUEUE_HPP_INCLUDED
#define PARALLELIZE_WORKER_QUEUE_HPP_INCLUDED

#include "batch.hpp"

#include <atomic>

namespace parallelize {

class WorkerQueue
{
public:
  // true if the queue was empty
  bool push(Batch *batch)
  {
    Batch *old = head_.load(std::memory_order_relaxed);
    do
      batch->next = old;
    // release: the worker that takes the batch sees its items
    while (!head_.compare_exchange_weak(old, batch, std::memory_order_release, std::memory_order_relaxed));
    return old == nullptr;
  }

  bool empty() const { return head_.load(std::memory_order_relaxed) == nullptr; }

  // every queued batch, oldest first; nullptr if none
  Batch *take_all()
  {
    Batch *list = head_.exchange(nullptr, std::memory_order_acquire);
    Batch *oldest_first = nullptr;
    while (list)
      {
        Batch *next = list->next;
        list->next = oldest_first;
        oldest_first = list;
        list = next;
      }
    return oldest_first;
  }

private:
  std::atomic<Batch *> head_{nullptr};
};

// Admission to a worker.  A producer enters before it starts a batch for the
// worker and leaves once the batch is queued; the worker closes only when no
// producer is inside, so no batch is ever refused half-way.  After that,
// whoever brings work delivers it inline itself, under the worker's closed
// lock, which the closing worker holds until it has drained the queue.
class WorkerGate
{
public:
  bool enter()
  {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    do
      {
        if (state & closed_bit)
          return false;
      }
    while (
      !state_.compare_exchange_weak(state, state + one_producer, std::memory_order_acquire, std::memory_order_relaxed));
    return true;
  }

  // release: the closing worker that sees the count drop sees the pushed batch
  void leave() { state_.fetch_sub(one_producer, std::memory_order_release); }

  // worker: succeeds only when no producer is inside
  bool try_close()
  {
    std::uint64_t idle = 0;
    return state_.compare_exchange_strong(idle, closed_bit, std::memory_order_acq_rel);
  }

  void open() { state_.store(0, std::memory_order_release); }
  bool is_closed() const { return state_.load(std::memory_order_acquire) & closed_bit; }

private:
  static constexpr std::uint64_t closed_bit = 1;
  static constexpr std::uint64_t one_producer = 2;
  std::atomic<std::uint64_t> state_{closed_bit};
};

} // namespace parallelize

#endif
