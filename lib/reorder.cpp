// SPDX-License-Identifier: LGPL-2.1-or-later
// The reorder stage behind in-order(): see reorder.h for the contract.
#include "reorder.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace parallelize {

namespace {

constexpr std::size_t first_capacity = 1024; // a power of two

std::uint64_t
now_us()
{
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

} // namespace

class Reorder
{
public:
  Reorder(pd_release_fn release, pd_released_fn released, void *user_data)
      : release_(release),
        released_(released),
        user_data_(user_data),
        ring_(first_capacity)
  {}

  ~Reorder()
  {
    for (Slot &slot : ring_)
      delete slot.more;
  }

  void hold(std::uint64_t ticket, void *item, void *target)
  {
    std::lock_guard<std::mutex> lock(lock_);
    add_held(ticket, item, target);
    count_held(1);
  }

  void submit(const pd_hold *holds, std::size_t hold_count, const std::uint64_t *tickets, std::size_t count)
  {
    std::unique_lock<std::mutex> lock(lock_);
    if (!submit_one_each(holds, hold_count, tickets, count))
      {
        for (std::size_t i = 0; i < hold_count; ++i)
          add_held(holds[i].ticket, holds[i].item, holds[i].target);
        for (std::size_t i = 0; i < count; ++i)
          slot(tickets[i]).done = true;
      }
    if (hold_count)
      count_held(hold_count);
    if (releasing_)
      return; // the releasing thread looks again before it stops
    releasing_ = true;
    for (;;)
      {
        take_releasable(false, out_);
        if (out_.empty())
          break;
        lock.unlock();
        for (const Held &held : out_)
          release_(user_data_, held.item, held.target);
        out_.clear();
        // before the flag can go to another thread: what this one released
        // must be on its way, not waiting in a per-thread batch of the host
        if (released_)
          released_(user_data_);
        lock.lock();
      }
    // cleared under the lock, after the last look: a ticket done since then
    // was marked under this lock and found releasing_ still set, so we saw it
    releasing_ = false;
  }

  std::size_t release_all()
  {
    std::unique_lock<std::mutex> lock(lock_);
    std::vector<Held> items;
    take_releasable(true, items);
    lock.unlock();
    for (const Held &held : items)
      release_(user_data_, held.item, held.target);
    if (released_ && !items.empty())
      released_(user_data_);
    return items.size();
  }

  std::uint64_t waiting() const { return waiting_.load(std::memory_order_relaxed); }
  std::uint64_t max_waiting() const { return max_waiting_.load(std::memory_order_relaxed); }
  std::uint64_t longest_head_wait_us() const { return longest_head_wait_us_.load(std::memory_order_relaxed); }

private:
  struct Held
  {
    void *item;
    void *target;
  };

  // under lock_
  void add_held(std::uint64_t ticket, void *item, void *target) { put(slot(ticket), {item, target}); }

  // under lock_: the gauges, once per call
  void count_held(std::size_t added)
  {
    const std::uint64_t waiting = waiting_.load(std::memory_order_relaxed) + added;
    waiting_.store(waiting, std::memory_order_relaxed);
    if (waiting > max_waiting_.load(std::memory_order_relaxed))
      max_waiting_.store(waiting, std::memory_order_relaxed);
    if (!head_since_)
      head_since_ = now_us();
  }

  // one ticket: usually one held item or none; a forked message holds several
  struct Slot
  {
    Held first{nullptr, nullptr};
    std::vector<Held> *more = nullptr;
    std::uint32_t held = 0;
    bool done = false;
  };

  // one more item for a ticket, kept in hold order
  static void put(Slot &s, Held held)
  {
    if (s.held == 0)
      s.first = held;
    else
      {
        if (!s.more)
          s.more = new std::vector<Held>();
        s.more->push_back(held);
      }
    ++s.held;
  }

  // under lock_: the slot of a ticket not yet released; the ring grows to
  // reach it (the sources' windows and the dispatcher's max_queued bound how
  // far tickets run ahead of the oldest unreleased one)
  Slot &slot(std::uint64_t ticket)
  {
    if (ticket < head_)
      std::abort(); // released already: a ticket reported twice, or held after done
    const std::uint64_t distance = ticket - head_;
    if (distance >= ring_.size())
      grow(distance);
    if (ticket >= end_)
      end_ = ticket + 1;
    return ring_[ticket & (ring_.size() - 1)];
  }

  void grow(std::uint64_t distance)
  {
    std::size_t capacity = ring_.size();
    while (capacity <= distance)
      capacity *= 2;
    std::vector<Slot> bigger(capacity);
    for (std::uint64_t t = head_; t < end_; ++t)
      std::swap(bigger[t & (capacity - 1)], ring_[t & (ring_.size() - 1)]);
    ring_.swap(bigger);
  }

  // under lock_: the common batch, where every ticket, in ascending order (a
  // worker's batch; round-robin leaves gaps between its runs), holds exactly
  // one item (nothing dropped, nothing forked): one pass, one slot each
  bool submit_one_each(const pd_hold *holds, std::size_t hold_count, const std::uint64_t *tickets, std::size_t count)
  {
    if (hold_count != count || count == 0)
      return false;
    for (std::size_t i = 0; i < count; ++i)
      if (holds[i].ticket != tickets[i] || (i && tickets[i] <= tickets[i - 1]))
        return false;
    slot(tickets[0]); // the checks, and room up to the last one
    slot(tickets[count - 1]);
    const std::size_t mask = ring_.size() - 1;
    for (std::size_t i = 0; i < count; ++i)
      {
        Slot &s = ring_[tickets[i] & mask];
        put(s, {holds[i].item, holds[i].target});
        s.done = true;
      }
    return true;
  }

  // under lock_: moves the items of the leading done tickets (of all
  // tickets, done or not, when everything goes) to out, in ticket order
  void take_releasable(bool everything, std::vector<Held> &out)
  {
    const std::size_t mask = ring_.size() - 1;
    std::size_t taken = 0;
    bool advanced = false;
    while (head_ < end_)
      {
        Slot &s = ring_[head_ & mask];
        if (!s.done && !everything)
          break;
        if (s.held)
          {
            out.push_back(s.first);
            if (s.more)
              {
                out.insert(out.end(), s.more->begin(), s.more->end());
                delete s.more;
                s.more = nullptr;
              }
            taken += s.held;
            s.held = 0;
          }
        s.done = false;
        ++head_;
        advanced = true;
      }
    if (!advanced)
      return;
    const std::uint64_t waiting = waiting_.load(std::memory_order_relaxed) - taken;
    waiting_.store(waiting, std::memory_order_relaxed);
    if (taken && head_since_)
      {
        // how long held items waited for this release: read once per release, not per item
        const std::uint64_t now = now_us();
        if (now - head_since_ > longest_head_wait_us_.load(std::memory_order_relaxed))
          longest_head_wait_us_.store(now - head_since_, std::memory_order_relaxed);
        head_since_ = waiting ? now : 0;
      }
  }

  const pd_release_fn release_;
  const pd_released_fn released_;
  void *const user_data_;
  std::mutex lock_;
  std::vector<Slot> ring_; // ticket t at t & (size - 1), for head_ <= t < end_
  std::uint64_t head_ = 0; // the oldest ticket not released
  std::uint64_t end_ = 0; // one past the newest ticket seen
  bool releasing_ = false;
  std::vector<Held> out_; // being released; only the releasing thread touches it
  std::uint64_t head_since_ = 0; // when held items last started waiting (us), 0: none wait
  std::atomic<std::uint64_t> waiting_{0};
  std::atomic<std::uint64_t> max_waiting_{0};
  std::atomic<std::uint64_t> longest_head_wait_us_{0};
};

} // namespace parallelize

using parallelize::Reorder;

struct pd_reorder
{
  pd_reorder(pd_release_fn release, pd_released_fn released, void *user_data) : engine(release, released, user_data) {}
  Reorder engine;
};

extern "C" {

pd_reorder *
pd_reorder_new(pd_release_fn release, pd_released_fn released, void *user_data)
{
  if (!release)
    return nullptr;
  try
    {
      return new pd_reorder(release, released, user_data);
    }
  catch (...)
    {
      return nullptr;
    }
}

void
pd_reorder_free(pd_reorder *self)
{
  delete self;
}

void
pd_reorder_hold(pd_reorder *self, uint64_t ticket, void *item, void *target)
{
  try
    {
      self->engine.hold(ticket, item, target);
    }
  catch (...)
    {
      std::abort(); // out of memory: as the host's g_malloc()
    }
}

void
pd_reorder_done(pd_reorder *self, const uint64_t *tickets, size_t count)
{
  try
    {
      self->engine.submit(nullptr, 0, tickets, count);
    }
  catch (...)
    {
      std::abort();
    }
}

void
pd_reorder_submit(pd_reorder *self, const pd_hold *holds, size_t hold_count, const uint64_t *tickets, size_t count)
{
  try
    {
      self->engine.submit(holds, hold_count, tickets, count);
    }
  catch (...)
    {
      std::abort();
    }
}

size_t
pd_reorder_release_all(pd_reorder *self)
{
  try
    {
      return self->engine.release_all();
    }
  catch (...)
    {
      std::abort();
    }
}

uint64_t
pd_reorder_waiting(const pd_reorder *self)
{
  return self->engine.waiting();
}

uint64_t
pd_reorder_max_waiting(const pd_reorder *self)
{
  return self->engine.max_waiting();
}

uint64_t
pd_reorder_longest_head_wait_us(const pd_reorder *self)
{
  return self->engine.longest_head_wait_us();
}

} // extern "C"
