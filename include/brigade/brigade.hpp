// brigade/brigade.hpp: everything brigade provides, in one include.
//
// Layers (docs/ARCHITECTURE.md): platform (detail/), runtime/ (the scheduler, task<T>, spawn,
// join_handle, the waiter), task/ (when_all, when_any, gather, task_group), sync/ (mutex,
// rw_mutex, semaphore, condition_variable, once, once_cell, event, wait_group, latch, barrier),
// chan/ (channel, sender, receiver, select, oneshot, broadcast), concurrent/ (concurrent_hash_map).
// Include the individual headers to keep compile times down.
#pragma once

#include "brigade/chan/broadcast.hpp"
#include "brigade/chan/channel.hpp"
#include "brigade/chan/oneshot.hpp"
#include "brigade/chan/select.hpp"
#include "brigade/concurrent/concurrent_hash_map.hpp"
#include "brigade/fs/file.hpp"
#include "brigade/net/endpoint.hpp"
#include "brigade/net/resolve.hpp"
#include "brigade/net/tcp.hpp"
#include "brigade/net/udp.hpp"
#include "brigade/net/unix.hpp"
#include "brigade/runtime/block_in_place.hpp"
#include "brigade/runtime/errors.hpp"
#include "brigade/runtime/join_handle.hpp"
#include "brigade/runtime/runtime.hpp"
#include "brigade/runtime/spawn.hpp"
#include "brigade/runtime/stop_token.hpp"
#include "brigade/runtime/task.hpp"
#include "brigade/runtime/this_task.hpp"
#include "brigade/runtime/yield_now.hpp"
#include "brigade/signal/signals.hpp"
#include "brigade/sync/barrier.hpp"
#include "brigade/sync/condition_variable.hpp"
#include "brigade/sync/event.hpp"
#include "brigade/sync/latch.hpp"
#include "brigade/sync/mutex.hpp"
#include "brigade/sync/once.hpp"
#include "brigade/sync/once_cell.hpp"
#include "brigade/sync/rw_mutex.hpp"
#include "brigade/sync/semaphore.hpp"
#include "brigade/sync/wait_group.hpp"
#include "brigade/task/gather.hpp"
#include "brigade/task/outcome.hpp"
#include "brigade/task/task_group.hpp"
#include "brigade/task/when_all.hpp"
#include "brigade/task/when_any.hpp"
#include "brigade/time/interval.hpp"
#include "brigade/time/retry.hpp"
#include "brigade/time/sleep.hpp"
#include "brigade/time/timeout.hpp"
