// SPDX-License-Identifier: LGPL-2.1-or-later
// A batch: the unit of hand-off from a producer to a worker.
#ifndef PARALLELIZE_BATCH_HPP_INCLUDED
#define PARALLELIZE_BATCH_HPP_INCLUDED

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

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

// Items follow the header; with tickets (an ordered dispatcher), a ticket per
// item follows the items, in the same block.
struct Batch
{
  Batch *next;
  BatchReturnStack *owner; // nullptr: freed after use
  std::uint64_t *ticket_array; // nullptr without tickets; else where they start in this block
  std::uint64_t handed_over_ns; // when it was published (pd_clock_ns()); 0 when nobody asked
  std::uint32_t count;
  std::uint32_t capacity;
  bool ticketed;
  bool ends_fetch; // the last batch of its producer's flush (or a hand-off of its own)

  void **items() { return reinterpret_cast<void **>(this + 1); }
  void *const *items() const { return reinterpret_cast<void *const *>(this + 1); }
  // nullptr without tickets
  std::uint64_t *tickets() { return ticket_array; }
  bool full() const { return count == capacity; }

  // Out of memory aborts, as syslog-ng's g_malloc() does: delivering the item
  // some other way would overtake the items of its key already queued.
  static Batch *allocate(std::uint32_t capacity, BatchReturnStack *owner, bool ticketed = false)
  {
    auto *batch = static_cast<Batch *>(std::malloc(bytes(capacity, ticketed)));
    if (!batch)
      std::abort();
    *batch = Batch{nullptr, owner, ticketed ? tickets_at(batch, capacity) : nullptr, 0, 0, capacity, ticketed, false};
    return batch;
  }

  static Batch *grow(Batch *batch, std::uint32_t capacity)
  {
    const std::uint32_t old_capacity = batch->capacity;
    auto *bigger = static_cast<Batch *>(std::realloc(batch, bytes(capacity, batch->ticketed)));
    if (!bigger)
      std::abort();
    bigger->capacity = capacity;
    // the tickets sit after the items: move them to where the larger item array ends
    if (bigger->ticketed)
      {
        bigger->ticket_array = tickets_at(bigger, capacity);
        std::memmove(bigger->ticket_array, tickets_at(bigger, old_capacity), bigger->count * sizeof(std::uint64_t));
      }
    return bigger;
  }

  // With a 32-bit size_t the byte count wraps from 2^30 items on (batch_size 0
  // lets a batch double until the flush): no such block can exist there, so
  // that is out of memory too, not a tiny block to write past.
  static std::size_t bytes(std::uint32_t capacity, bool ticketed)
  {
    const std::size_t per_item = sizeof(void *) + (ticketed ? sizeof(std::uint64_t) : 0);
    if (capacity > (SIZE_MAX - sizeof(Batch) - sizeof(std::uint64_t)) / per_item)
      std::abort();
    return tickets_offset(capacity) + (ticketed ? capacity * sizeof(std::uint64_t) : 0);
  }

  // 8-aligned, also where pointers are 4 bytes
  static std::size_t tickets_offset(std::uint32_t capacity)
  {
    const std::size_t end = sizeof(Batch) + capacity * sizeof(void *);
    return (end + alignof(std::uint64_t) - 1) & ~(alignof(std::uint64_t) - 1);
  }

  static std::uint64_t *tickets_at(Batch *batch, std::uint32_t capacity)
  {
    return reinterpret_cast<std::uint64_t *>(reinterpret_cast<char *>(batch) + tickets_offset(capacity));
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
  batch->ends_fetch = false;
  Batch *old = head_.load(std::memory_order_relaxed);
  do
    batch->next = old;
  // release: the producer that takes it must see next/count written
  while (!head_.compare_exchange_weak(old, batch, std::memory_order_release, std::memory_order_relaxed));
}

} // namespace parallelize

#endif
