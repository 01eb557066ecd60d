"""OSC remote control: the parameter registry as an OSC address space (UDP, and TCP on the same port).

``mixhost live SESSION --osc`` serves it (``--osc-port``, default 9000;
``--osc-bind``, default 127.0.0.1; ``--osc-allow CIDR``, repeatable; peers
from elsewhere are dropped and counted).  Modules: :mod:`.address` (OSC 1.0
patterns), :mod:`.packet` (datagrams, bundles, encoding), :mod:`.server`
(the sockets and their I/O thread), :mod:`.stream` (TCP framings: OSC 1.0
int32 length prefixes, OSC 1.1 SLIP; the first byte of a connection tells
which, and replies use the same), :mod:`.connection` (one TCP peer),
:mod:`.client` (peers, subscriptions, queues), :mod:`.surface` (what the
messages mean); :mod:`.layout`,
:mod:`.touchosc` and :mod:`.open_stage_control` (tablet layouts),
:mod:`.zeroconf` (the service advertisement).

Address conventions
-------------------
Every registry address ``A`` (``mixhost params SESSION`` lists them) is
the OSC address ``/A``:

``/A f``
    set in native units (``/tracks/vocals/gain_db -3.0``); out of range is
    refused with ``/mixhost/error``, never clamped.
``/A/norm f``
    set a 0..1 position through the parameter's scale (a plain fader).
``/A/text``
    the display text (``-3.0 dB``); feedback and queries only.
``/A/toggle``
    on/off parameters: flips (an argument of 0, a button's release, does nothing).
``/A/touch i``
    1: a hand on the control, 0: let go (automation touch/latch recording).
booleans
    accept 0/1 (int or float), T/F and ``"on"``/``"off"``; enums an index or the text.
``/A`` with no argument
    a query: the reply is the current value on the same path (a set made a
    moment before included); ``/A/norm`` and ``/A/text`` likewise.
patterns
    OSC 1.0: ``*`` (never across ``/``), ``?``, ``[1-4]``, ``[!a]``,
    ``{a,b}``: ``/tracks/*/mute 1``.  All the sets of one message, or of one
    bundle, land in one block; a bundle with a future time tag is scheduled
    and delays nothing else.
``/transport/play``, ``/transport/position_s``, ``/transport/loop``, ``/transport/loop_start_s``, ``/transport/loop_end_s``
    the registry's transport parameters.
``/selected/...``
    the selected strip's parameters (``/selected/gain_db``).
``/mixhost/select <track name or strip address>``
    select a strip; the reply (and every subscriber) gets ``/mixhost/selected /tracks/vox``.
``/mixhost/panic``, ``/mixhost/resume``
    stop and silence everything; lift it.
``/mixhost/snapshot/save <name>``, ``/mixhost/snapshot/recall <name> [fade_s]``, ``/mixhost/snapshot/list``
    snapshots in the session's ``snapshots:``.
``/mixhost/save``
    write the mix into the session file (as the ``s`` key does).
``/mixhost/list [prefix] [page]``
    ``/mixhost/list/begin prefix count pages``, then one bundle per page:
    ``/mixhost/list/page prefix page pages`` and ``/mixhost/list/item
    /address kind unit scale min max read_only value text choices`` per
    parameter, then ``/mixhost/list/end prefix count pages``.  A page that
    went missing is asked for again with its number.
``/mixhost/subscribe [port] [what...]``
    from now on every change (from MIDI, automation, other clients, the API)
    comes back on the same path, to ``port`` (default: the sender's port).
    ``what``: ``value`` (default), ``norm``, ``text``, ``meters``, ``all``,
    and address prefixes (``/tracks/vox``) to follow only those.  Latest
    value only, only on change, at most 60 per second per address; never an
    echo of the client's own set (its ``/text`` display does follow), except
    the correction after a refused set.  Any message renews the
    subscription; ``/mixhost/heartbeat`` (or ``/mixhost/renew``) does only
    that; a subscriber silent for 30 s is dropped.  The reply is
    ``/mixhost/subscribed port timeout_s``.  ``/mixhost/unsubscribe`` ends it.
``/meters/tracks/<t>``, ``/meters/buses/<b>``, ``/meters/master``
    to subscribers of ``meters``, ``METER_HZ`` times a second: ``peak rms``,
    dBFS of the louder channel over the interval since the previous round
    (-120 for silence); the master has a third argument, its short-term
    loudness in LUFS (EBU R128 "S": K-weighted, the latest 3 s; -inf for
    3 s of silence).
``/meters/<strip>/peak f``, ``/meters/<strip>/rms f``, ``/meters/master/lufs f``
    the same values one number per message, for a plain widget that shows
    one float; sent in the same bundle as the forms above (a ``meters``
    subscriber gets both).
``/mixhost/error <address> <reason>``
    the reply to an unknown address, a wrong type, a value out of range, a
    NaN or Inf, a malformed datagram (address ``""``).
``/mixhost/ping``, ``/mixhost/stats``
    ``/mixhost/pong``; the server's counters as name, value pairs.

Replies go to the sender's address and port, or to the port given in
``/mixhost/subscribe``; a TCP peer's go back on its connection (the port is
ignored).  A frame over ``MAX_SIZE`` bytes is refused with
``/mixhost/error``: a length-prefixed stream is then closed (it cannot be
resynchronised), a SLIP stream carries on at the next END.  No OSC message loads a file or a plugin or names a
path; ``/mixhost/save`` writes only the session's own file.
"""
