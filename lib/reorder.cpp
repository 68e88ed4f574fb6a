// SPDX-License-Identifier: LGPL-2.1-or-later
// The reorder stage behind in-order(): see reorder.h for the contract.
#include "reorder.h"

#include <atomic>
#include <chrono>
#include <cstdint>
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
    // before the lock: it reads only the caller's arrays
    std::vector<std::size_t> &runs = thread_runs();
    const bool each = find_runs(holds, hold_count, tickets, count, runs);
    std::unique_lock<std::mutex> lock(lock_);
    // the batch that the oldest unreleased ticket starts (with one worker,
    // every batch) goes out from the caller's array, never stored
    std::size_t direct_tickets = 0, direct_holds = 0;
    if (!releasing_ && count && tickets[0] == head_)
      direct_prefix(each, runs, holds, hold_count, tickets, count, direct_tickets, direct_holds);
    // with one item each, the direct prefix is the first run or nothing
    const bool stored = each && store_runs(runs, holds, tickets, count, direct_tickets ? 1 : 0);
    holds += direct_holds;
    hold_count -= direct_holds;
    tickets += direct_tickets;
    count -= direct_tickets;
    if (!stored)
      {
        for (std::size_t i = 0; i < hold_count; ++i)
          add_held(holds[i].ticket, holds[i].item, holds[i].target);
        for (std::size_t i = 0; i < count; ++i)
          mark_done(tickets[i]);
      }
    if (hold_count)
      count_held(hold_count);
    if (releasing_)
      return; // the releasing thread looks again before it stops
    releasing_ = true;
    // what this thread released waits in the host's per-thread batch until
    // released_ moves it on: once, when nothing more is releasable, before
    // the role can go to another thread (whose items could overtake it)
    bool unflushed = false;
    if (direct_tickets)
      {
        lock.unlock();
        release(holds - direct_holds, holds);
        unflushed = direct_holds != 0;
        lock.lock();
      }
    for (;;)
      {
        take_releasable(false, out_);
        if (out_.segments.empty())
          {
            if (!unflushed || !released_)
              break;
            lock.unlock();
            released_(user_data_);
            unflushed = false;
            lock.lock();
            continue; // a look again: tickets done meanwhile left their release to us
          }
        lock.unlock();
        release(out_);
        unflushed = true;
        lock.lock();
        recycle(out_);
      }
    // cleared under the lock, after the last look: a ticket done since then
    // was marked under this lock and found releasing_ still set, so we saw it
    releasing_ = false;
  }

  std::size_t release_all()
  {
    std::unique_lock<std::mutex> lock(lock_);
    Taken taken;
    take_releasable(true, taken);
    lock.unlock();
    const std::size_t items = release(taken);
    if (released_ && items)
      released_(user_data_);
    lock.lock();
    recycle(taken);
    return items;
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

  // a copy of the holds of one submitted batch, kept until each of its runs
  // of consecutive tickets is released; reused afterwards
  struct Block
  {
    std::vector<pd_hold> holds;
    std::size_t runs_left = 0;
  };

  // one ticket: usually one held item or none; a forked message holds several.
  // The first ticket of a run stored as a whole (see store_runs) names the
  // run instead; the run's other tickets' slots stay empty.
  struct Slot
  {
    Held first{nullptr, nullptr};
    std::vector<Held> *more = nullptr;
    Block *run = nullptr; // holds[run_begin, run_begin + run_length) of run
    std::uint32_t run_begin = 0;
    std::uint32_t run_length = 0;
    std::uint32_t held = 0;
    bool done = false;
  };

  // what one look at the ring took, to release outside the lock: stretches
  // of a block's holds, or of single items copied out of their slots
  struct Taken
  {
    struct Segment
    {
      Block *block; // nullptr: copies
      std::size_t begin, end;
    };
    std::vector<Segment> segments;
    std::vector<pd_hold> copies;
    std::vector<Block *> finished; // blocks whose last run is among the segments
  };

  std::size_t release(const pd_hold *begin, const pd_hold *end)
  {
    // locals: the callback could, as far as the compiler knows, change the members
    const pd_release_fn release = release_;
    void *const user_data = user_data_;
    for (const pd_hold *h = begin; h != end; ++h)
      release(user_data, h->item, h->target);
    return static_cast<std::size_t>(end - begin);
  }

  std::size_t release(const Taken &taken)
  {
    std::size_t items = 0;
    for (const Taken::Segment &segment : taken.segments)
      {
        const pd_hold *base = segment.block ? segment.block->holds.data() : taken.copies.data();
        items += release(base + segment.begin, base + segment.end);
      }
    return items;
  }

  // under lock_, after a release: the finished blocks go back to the pool
  void recycle(Taken &taken)
  {
    free_blocks_.insert(free_blocks_.end(), taken.finished.begin(), taken.finished.end());
    taken.finished.clear();
    taken.segments.clear();
    taken.copies.clear();
  }

  // under lock_: a held item, a done ticket, one slot at a time
  void add_held(std::uint64_t ticket, void *item, void *target)
  {
    Slot &s = slot(ticket);
    if (empty(s))
      ++loose_;
    put(s, {item, target});
  }

  void mark_done(std::uint64_t ticket)
  {
    Slot &s = slot(ticket);
    if (empty(s))
      ++loose_;
    s.done = true;
  }

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

  static bool empty(const Slot &s) { return !s.held && !s.done && !s.run_length; }

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

  // a thread's scratch list of runs, kept between calls (no allocation per batch)
  static std::vector<std::size_t> &thread_runs()
  {
    static thread_local std::vector<std::size_t> runs;
    return runs;
  }

  // is this the common batch, where every ticket, in ascending order, holds
  // exactly one item (nothing dropped, nothing forked)?  If so, runs has where
  // each run of consecutive tickets starts (a worker's batch has runs:
  // round-robin leaves gaps between them), then count.
  static bool find_runs(const pd_hold *holds,
                        std::size_t hold_count,
                        const std::uint64_t *tickets,
                        std::size_t count,
                        std::vector<std::size_t> &runs)
  {
    runs.clear();
    if (hold_count != count || count == 0 || count > UINT32_MAX || holds[0].ticket != tickets[0])
      return false;
    runs.push_back(0);
    std::uint64_t next = tickets[0] + 1; // where the run goes on
    for (std::size_t i = 1; i < count; ++i, ++next)
      {
        const std::uint64_t t = tickets[i];
        if (t != next)
          {
            if (t < next)
              return false;
            runs.push_back(i);
            next = t;
          }
        if (holds[i].ticket != t)
          return false;
      }
    runs.push_back(count);
    return true;
  }

  // under lock_: nothing of ticket t in its slot (a ticket at or past end_ has nothing yet)
  bool vacant(std::uint64_t t) const { return !loose_ || t >= end_ || empty(ring_[t & (ring_.size() - 1)]); }

  // under lock_, not releasing, tickets[0] == head_: the leading tickets that
  // follow on from head_ one by one and have nothing held in the ring, with
  // their holds (at the start of holds, which are in ticket order).  They are
  // taken as released (head_ moves past them); the caller releases the holds.
  // With one item each (runs found), that is the whole first run or nothing.
  void direct_prefix(bool each,
                     const std::vector<std::size_t> &runs,
                     const pd_hold *holds,
                     std::size_t hold_count,
                     const std::uint64_t *tickets,
                     std::size_t count,
                     std::size_t &direct_tickets,
                     std::size_t &direct_holds)
  {
    std::size_t i = 0, j = 0;
    if (each)
      {
        const std::size_t run = runs[1];
        if (loose_)
          while (i < run && vacant(tickets[i]))
            ++i;
        else
          i = run;
        i = j = (i == run ? run : 0);
      }
    else
      for (; i < count && tickets[i] == head_ + i && vacant(tickets[i]); ++i)
        while (j < hold_count && holds[j].ticket == tickets[i])
          ++j;
    direct_tickets = i;
    direct_holds = j;
    head_ += i;
    if (end_ < head_)
      end_ = head_;
  }

  // under lock_, with runs found: the holds of the runs from runs[first_run]
  // on are copied as they are into a block, and each run is stored in the
  // slot of its first ticket.  Not if any of their tickets has something in
  // the ring already (then they go one ticket at a time).
  bool store_runs(const std::vector<std::size_t> &runs,
                  const pd_hold *holds,
                  const std::uint64_t *tickets,
                  std::size_t count,
                  std::size_t first_run)
  {
    const std::size_t from = runs[first_run];
    if (from == count)
      return true;
    if (loose_)
      for (std::size_t i = from; i < count; ++i)
        if (tickets[i] >= head_ && !vacant(tickets[i]))
          return false;
    slot(tickets[from]); // the checks, and room up to the last one
    slot(tickets[count - 1]);
    Block *block = take_block();
    block->holds.assign(holds + from, holds + count);
    const std::size_t mask = ring_.size() - 1;
    for (std::size_t r = first_run; r + 1 < runs.size(); ++r)
      {
        Slot &s = ring_[tickets[runs[r]] & mask];
        s.run = block;
        s.run_begin = static_cast<std::uint32_t>(runs[r] - from);
        s.run_length = static_cast<std::uint32_t>(runs[r + 1] - runs[r]);
        s.done = true;
        ++block->runs_left;
      }
    return true;
  }

  Block *take_block()
  {
    if (free_blocks_.empty())
      {
        blocks_.push_back(std::make_unique<Block>());
        return blocks_.back().get();
      }
    Block *block = free_blocks_.back();
    free_blocks_.pop_back();
    return block;
  }

  // under lock_: takes the items of the leading done tickets (of all tickets,
  // done or not, when everything goes), in ticket order
  void take_releasable(bool everything, Taken &taken)
  {
    const std::size_t mask = ring_.size() - 1;
    std::size_t count = 0;
    bool advanced = false;
    while (head_ < end_)
      {
        Slot &s = ring_[head_ & mask];
        if (s.run_length)
          {
            taken.segments.push_back({s.run, s.run_begin, s.run_begin + s.run_length});
            if (--s.run->runs_left == 0)
              taken.finished.push_back(s.run);
            count += s.run_length;
            head_ += s.run_length;
            s.run = nullptr;
            s.run_length = 0;
            s.done = false;
            advanced = true;
            continue;
          }
        if (!s.done && !everything)
          break;
        if (s.held || s.done)
          --loose_;
        if (s.held)
          {
            const std::size_t begin = taken.copies.size();
            taken.copies.push_back({0, s.first.item, s.first.target});
            if (s.more)
              {
                for (const Held &held : *s.more)
                  taken.copies.push_back({0, held.item, held.target});
                delete s.more;
                s.more = nullptr;
              }
            if (!taken.segments.empty() && !taken.segments.back().block && taken.segments.back().end == begin)
              taken.segments.back().end = taken.copies.size();
            else
              taken.segments.push_back({nullptr, begin, taken.copies.size()});
            count += s.held;
            s.held = 0;
          }
        s.done = false;
        ++head_;
        advanced = true;
      }
    if (!advanced)
      return;
    const std::uint64_t waiting = waiting_.load(std::memory_order_relaxed) - count;
    waiting_.store(waiting, std::memory_order_relaxed);
    if (count && head_since_)
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
  std::size_t loose_ = 0; // slots in use one ticket at a time (not runs); while 0, every slot but runs' is empty
  Taken out_; // being released; only the releasing thread touches it outside the lock
  std::vector<std::unique_ptr<Block>> blocks_; // every block made; as many as batches wait at once
  std::vector<Block *> free_blocks_;
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
