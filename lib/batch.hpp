// SPDX-License-Identifier: LGPL-2.1-or-later
// A batch: the unit of hand-off from a producer to a worker.
#ifndef PARALLELIZE_BATCH_HPP_INCLUDED
#define PARALLELIZE_BATCH_HPP_INCLUDED

#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace parallelize {

struct Batch;

// Where a consumed batch goes back to, so that a producer reuses its own
// batches instead of allocating one per hand-off.  Workers push, the owning
// producer takes the whole stack at once (no ABA: it never pops one by one).
class BatchReturnStack
{
public:
  void push(Batch *batch);
  Batch *take_all() { return head_.exchange(nullptr, std::memory_order_acquire); }

private:
  std::atomic<Batch *> head_{nullptr};
};

struct Batch
{
  Batch *next;
  BatchReturnStack *owner; // nullptr: freed after use
  std::uint32_t count;
  std::uint32_t capacity;

  void **items() { return reinterpret_cast<void **>(this + 1); }
  void *const *items() const { return reinterpret_cast<void *const *>(this + 1); }
  bool full() const { return count == capacity; }

  // Out of memory aborts, as syslog-ng's g_malloc() does: delivering the item
  // some other way would overtake the items of its key already queued.
  static Batch *allocate(std::uint32_t capacity, BatchReturnStack *owner)
  {
    auto *batch = static_cast<Batch *>(std::malloc(bytes(capacity)));
    if (!batch)
      std::abort();
    *batch = Batch{nullptr, owner, 0, capacity};
    return batch;
  }

  static Batch *grow(Batch *batch, std::uint32_t capacity)
  {
    auto *bigger = static_cast<Batch *>(std::realloc(batch, bytes(capacity)));
    if (!bigger)
      std::abort();
    bigger->capacity = capacity;
    return bigger;
  }

  // With a 32-bit size_t the byte count wraps from 2^30 items on (batch_size 0
  // lets a batch double until the flush): no such block can exist there, so
  // that is out of memory too, not a tiny block to write past.
  static std::size_t bytes(std::uint32_t capacity)
  {
    if (capacity > (SIZE_MAX - sizeof(Batch)) / sizeof(void *))
      std::abort();
    return sizeof(Batch) + capacity * sizeof(void *);
  }

  // after its items were consumed: back to its producer, or freed
  static void release(Batch *batch)
  {
    if (batch->owner)
      batch->owner->push(batch);
    else
      std::free(batch);
  }

  static void free_list(Batch *batch)
  {
    while (batch)
      {
        Batch *next = batch->next;
        std::free(batch);
        batch = next;
      }
  }
};

inline void
BatchReturnStack::push(Batch *batch)
{
  batch->count = 0;
  Batch *old = head_.load(std::memory_order_relaxed);
  do
    batch->next = old;
  // release: the producer that takes it must see next/count written
  while (!head_.compare_exchange_weak(old, batch, std::memory_order_release, std::memory_order_relaxed));
}

} // namespace parallelize

#endif
