%% lwp_peer: lwp's perf workloads written as idiomatic Erlang, to compare
%% lwp with the BEAM.  See ../README.md.  Compile with erlc, then run
%%
%%     erl -noshell +S N:N +P 2097152 -pa DIR -run lwp_peer main \
%%         -extra -b NAME -s N [-n SCALE]
%%
%% (-s must say what +S says; run-peer.sh passes both).  Each figure is
%% printed on stdout as
%%
%%     RESULT <figure> <value> <unit> <ops>
%%
%% followed, for the workloads that measure a latency distribution, by
%%
%%     SAMPLES <figure> <unit> <value>...
%%
%% and everything else goes to stderr.  A failed self-check exits with 1.

-module(lwp_peer).

-export([main/0, main/1]).

-define(SKYNET_FANOUT, 10).
-define(FANIN_SENDERS, 1000).
-define(FAIR_HOGS, 4).
-define(SELECTIVE_NOISE, 10000).
-define(TIMER_WAIT_MS, 10).
-define(MAX_LAT, 1000). % the most latency samples a workload reports
-define(LC_REASON, chain_end).

workloads() ->
    [{"switch", fun bench_switch/1},
     {"spawn-exit", fun bench_spawn_exit/1},
     {"spawn", fun bench_spawn/1},
     {"ring", fun(C) -> bench_ring(C, "ring", 10000) end},
     {"ring100k", fun(C) -> bench_ring(C, "ring100k", 100000) end},
     {"pingpong", fun(C) -> bench_pingpong(C, "pingpong") end},
     {"pingpong-x", fun bench_pingpong_x/1},
     {"skynet", fun bench_skynet/1},
     {"fanin", fun bench_fanin/1},
     {"fairness", fun bench_fairness/1},
     {"selective", fun bench_selective/1},
     {"timers", fun bench_timers/1},
     {"link-chain", fun bench_link_chain/1},
     {"idle-rss", fun bench_idle/1}].

%% ---- helpers --------------------------------------------------------------

now_ns() ->
    erlang:monotonic_time(nanosecond).

%% N times the scale, rounded, at least 1 (as lwp-bench does it).
scaled(#{scale := Scale}, N) ->
    V = N * Scale + 0.5,
    if
        V < 1 -> 1;
        true -> trunc(V)
    end.

per_op(Ns, Ops) ->
    Ns / Ops.

%% The Q-quantile of a list, picked as lwp-bench picks it: the element at
%% round(Q * (N - 1)) of the sorted list.
quantile(L, Q) ->
    lists:nth(trunc(Q * (length(L) - 1) + 0.5) + 1, lists:sort(L)).

%% Receive N copies of Msg.
receive_n(0, _Msg) ->
    ok;
receive_n(N, Msg) ->
    receive
        Msg -> receive_n(N - 1, Msg)
    end.

%% For a process that many others flood with messages: its queue is kept
%% off its heap, so that a garbage collection does not copy the backlog.
big_mailbox() ->
    process_flag(message_queue_data, off_heap).

wrong(Fmt, Args) ->
    throw({wrong, lists:flatten(io_lib:format(Fmt, Args))}).

%% ---- switch: two processes yielding to each other -------------------------

yield_forever() ->
    erlang:yield(),
    yield_forever().

yield_times(0) ->
    ok;
yield_times(K) ->
    erlang:yield(),
    yield_times(K - 1).

bench_switch(C) ->
    N = max(2, scaled(C, 10000000) band bnot 1),
    Partner = spawn(fun yield_forever/0),
    erlang:yield(), % the partner starts and yields back
    T0 = now_ns(),
    yield_times(N div 2), % to the partner, which yields back: 2 switches
    T1 = now_ns(),
    exit(Partner, kill),
    [{"switch", per_op(T1 - T0, N), "ns/switch", N}].

%% ---- spawn-exit, spawn: a million short-lived processes -------------------

spawn_n(0) ->
    ok;
spawn_n(K) ->
    spawn(fun() -> ok end),
    spawn_n(K - 1).

%% Until every child has exited: the process count is back where it was.
wait_process_count(Base) ->
    case erlang:system_info(process_count) =< Base of
        true ->
            ok;
        false ->
            erlang:yield(),
            wait_process_count(Base)
    end.

bench_spawn_exit(C) ->
    N = scaled(C, 1000000),
    Base = erlang:system_info(process_count),
    T0 = now_ns(),
    spawn_n(N),
    wait_process_count(Base),
    T1 = now_ns(),
    [{"spawn-exit", per_op(T1 - T0, N), "ns/spawn+exit", N}].

spawn_reporting(0, _Parent) ->
    ok;
spawn_reporting(K, Parent) ->
    spawn(fun() -> Parent ! spawned end),
    spawn_reporting(K - 1, Parent).

bench_spawn(C) ->
    N = scaled(C, 1000000),
    big_mailbox(),
    T0 = now_ns(),
    spawn_reporting(N, self()),
    receive_n(N, spawned),
    T1 = now_ns(),
    [{"spawn", per_op(T1 - T0, N), "ns/process", N}].

%% ---- ring: a token passed around a ring of processes ----------------------

ring_start(Main) ->
    receive
        {next, Next} ->
            Main ! ready,
            ring_node(Next, Main)
    end.

%% Pass the token (the hops left) on, or tell Main it has gone round enough.
ring_node(Next, Main) ->
    receive
        0 ->
            Main ! ring_done,
            ring_node(Next, Main);
        Left when is_integer(Left) ->
            Next ! Left - 1,
            ring_node(Next, Main);
        stop ->
            ok
    end.

bench_ring(C, Name, Size) ->
    Hops = scaled(C, 1000000),
    Main = self(),
    Pids = [spawn(fun() -> ring_start(Main) end) || _ <- lists:seq(1, Size)],
    [First | Rest] = Pids,
    lists:foreach(fun({Pid, Next}) -> Pid ! {next, Next} end,
                  lists:zip(Pids, Rest ++ [First])),
    receive_n(Size, ready), % all blocked in receive
    T0 = now_ns(),
    First ! Hops,
    receive
        ring_done -> ok
    end,
    T1 = now_ns(),
    [Pid ! stop || Pid <- Pids],
    [{Name, per_op(T1 - T0, Hops), "ns/hop", Hops}].

%% ---- pingpong: round trips between two processes --------------------------

pong() ->
    receive
        {From, V} ->
            From ! V,
            pong();
        stop ->
            ok
    end.

round_trip(Pong, V) ->
    Pong ! {self(), V},
    receive
        V -> ok;
        Other -> wrong("WRONG REPLY ~p, want ~p", [Other, V])
    end.

round_trips(_Pong, N, N) ->
    ok;
round_trips(Pong, I, N) ->
    round_trip(Pong, I),
    round_trips(Pong, I + 1, N).

%% Round trips I .. N - 1 in batches of Batch, each batch's time per round
%% trip one latency sample (reading the clock at every round trip would add
%% a good part of what it measures).  The samples, newest first.
batches(_Pong, N, N, _Batch, _T, Lat) ->
    Lat;
batches(Pong, I, N, Batch, T, Lat) ->
    End = min(I + Batch, N),
    round_trips(Pong, I, End),
    Now = now_ns(),
    batches(Pong, End, N, Batch, Now, [(Now - T) / (End - I) | Lat]).

bench_pingpong(C, Name) ->
    N = scaled(C, 1000000),
    Pong = spawn(fun pong/0),
    round_trip(Pong, -1), % pong is running
    T0 = now_ns(),
    Lat = batches(Pong, 0, N, max(1, N div ?MAX_LAT), T0, []),
    T1 = now_ns(),
    Pong ! stop,
    [{Name, per_op(T1 - T0, N), "ns/round-trip", N},
     {samples, Name, "ns/round-trip", lists:sublist(lists:reverse(Lat), ?MAX_LAT)}].

%% Processes cannot be pinned: with 2 or more schedulers this is pingpong's
%% code, and the schedulers decide where the two run.
bench_pingpong_x(#{scheds := S}) when S < 2 ->
    io:format(standard_error,
              "lwp_peer: pingpong-x: skipped: needs 2 schedulers~n", []),
    [];
bench_pingpong_x(C) ->
    bench_pingpong(C, "pingpong-x").

%% ---- skynet: a tree of a million leaves, 10 children a node ---------------

%% Send Parent the sum of Num .. Num + Size - 1: its own number for a leaf,
%% else the sum of its children's sums.
skynet(Parent, Num, 1) ->
    Parent ! Num;
skynet(Parent, Num, Size) ->
    Step = Size div ?SKYNET_FANOUT,
    skynet_children(self(), Num, Step, ?SKYNET_FANOUT),
    Parent ! sum_children(?SKYNET_FANOUT, 0).

skynet_children(_Self, _Num, _Step, 0) ->
    ok;
skynet_children(Self, Num, Step, K) ->
    spawn(fun() -> skynet(Self, Num, Step) end),
    skynet_children(Self, Num + Step, Step, K - 1).

sum_children(0, Sum) ->
    Sum;
sum_children(K, Sum) ->
    receive
        V -> sum_children(K - 1, Sum + V)
    end.

%% A whole tree: the scaled count rounded down to a power of 10.
skynet_leaves(L, Want) when L * ?SKYNET_FANOUT =< Want ->
    skynet_leaves(L * ?SKYNET_FANOUT, Want);
skynet_leaves(L, _Want) ->
    L.

bench_skynet(C) ->
    Leaves = skynet_leaves(?SKYNET_FANOUT, scaled(C, 1000000)),
    Nodes = (?SKYNET_FANOUT * Leaves - 1) div (?SKYNET_FANOUT - 1),
    Main = self(),
    T0 = now_ns(),
    spawn(fun() -> skynet(Main, 0, Leaves) end),
    Sum = receive V -> V end,
    T1 = now_ns(),
    case Leaves * (Leaves - 1) div 2 of
        Sum -> ok;
        Want -> wrong("WRONG RESULT ~p, want ~p", [Sum, Want])
    end,
    [{"skynet", (T1 - T0) / 1.0e6, "ms", Nodes}].

%% ---- fanin: many senders, one receiver ------------------------------------

fanin_sender(Main, Sender, Per) ->
    Main ! ready,
    receive
        go -> ok % all start together
    end,
    fanin_send(Main, Sender, 0, Per).

fanin_send(_Main, _Sender, Per, Per) ->
    ok;
fanin_send(Main, Sender, Seq, Per) ->
    Main ! {Sender, Seq},
    fanin_send(Main, Sender, Seq + 1, Per).

%% Each message must be the next of its sender's.  The sequence number due
%% from each sender is kept in the process dictionary: the cheapest
%% mutable state a process has (a map costs a quarter of the throughput).
fanin_receive(0) ->
    ok;
fanin_receive(K) ->
    receive
        {Sender, Seq} ->
            case get(Sender) of
                Seq ->
                    put(Sender, Seq + 1),
                    fanin_receive(K - 1);
                Want ->
                    wrong("WRONG ORDER: sender ~p sequence ~p, want ~p",
                          [Sender, Seq, Want])
            end
    end.

%% Every sender's messages arrived.
fanin_count([], _Per) ->
    ok;
fanin_count([Sender | Rest], Per) ->
    case get(Sender) of
        Per ->
            fanin_count(Rest, Per);
        Got ->
            wrong("WRONG COUNT: sender ~p: ~p messages, want ~p",
                  [Sender, Got, Per])
    end.

bench_fanin(C) ->
    Per = scaled(C, 1000),
    Total = ?FANIN_SENDERS * Per,
    big_mailbox(),
    Main = self(),
    Senders = lists:seq(0, ?FANIN_SENDERS - 1),
    Pids = [spawn(fun() -> fanin_sender(Main, S, Per) end) || S <- Senders],
    [put(S, 0) || S <- Senders],
    receive_n(?FANIN_SENDERS, ready), % all blocked in receive
    T0 = now_ns(),
    [Pid ! go || Pid <- Pids],
    fanin_receive(Total),
    T1 = now_ns(),
    fanin_count(Senders, Per),
    case process_info(self(), message_queue_len) of
        {message_queue_len, 0} -> ok;
        {message_queue_len, Extra} -> wrong("WRONG COUNT: ~p extra", [Extra])
    end,
    [{"fanin", Total * 1.0e3 / (T1 - T0), "M msg/s", Total}].

%% ---- fairness: round trips and sleeps among processes that never yield ----

%% Never calls into the runtime; the BEAM preempts it when its reductions
%% are spent.
spin(N) ->
    spin(N + 1).

fair_rounds(_Pong, N, N, Rtt, Slept) ->
    {Rtt, Slept};
fair_rounds(Pong, I, N, Rtt, Slept) ->
    T0 = now_ns(),
    round_trip(Pong, I),
    T1 = now_ns(),
    timer:sleep(1),
    T2 = now_ns(),
    fair_rounds(Pong, I + 1, N, [T1 - T0 | Rtt], [T2 - T1 | Slept]).

bench_fairness(C) ->
    N = scaled(C, 1000),
    Hogs = [spawn(fun() -> spin(0) end) || _ <- lists:seq(1, ?FAIR_HOGS)],
    Pong = spawn(fun pong/0),
    timer:sleep(5), % the hogs spread over the schedulers
    {Rtt, Slept} = fair_rounds(Pong, 0, N, [], []),
    [exit(Hog, kill) || Hog <- Hogs],
    Pong ! stop,
    [{"fair-rtt-p50", quantile(Rtt, 0.50) / 1.0e3, "us", N},
     {"fair-rtt-p99", quantile(Rtt, 0.99) / 1.0e3, "us", N},
     {"fair-sleep-p50", quantile(Slept, 0.50) / 1.0e6, "ms", N},
     {"fair-sleep-p99", quantile(Slept, 0.99) / 1.0e6, "ms", N},
     {samples, "fair-rtt-p50", "us", spread(lists:sort(Rtt), 1.0e3)}].

%% Up to ?MAX_LAT evenly spaced order statistics of the sorted list, each
%% divided by Div.
spread(Sorted, Div) ->
    N = length(Sorted),
    K = min(N, ?MAX_LAT),
    T = list_to_tuple(Sorted),
    [element(I * N div K + 1, T) / Div || I <- lists:seq(0, K - 1)].

%% ---- selective: picking one message out of a long mailbox -----------------

fill(_Pid, 0) ->
    ok;
fill(Pid, K) ->
    Pid ! {noise, K},
    fill(Pid, K - 1).

%% Drop every message waiting; how many there were.
flush(K) ->
    receive
        _ -> flush(K + 1)
    after 0 ->
        K
    end.

selective_rounds(Rounds, Rounds, Ns) ->
    Ns;
selective_rounds(R, Rounds, Ns) ->
    fill(self(), ?SELECTIVE_NOISE),
    self() ! {wanted, R},
    T0 = now_ns(),
    Got = receive
              {wanted, V} -> V
          end,
    T1 = now_ns(),
    Got =:= R orelse wrong("WRONG MESSAGE ~p, want ~p", [Got, R]),
    case flush(0) of
        ?SELECTIVE_NOISE -> ok;
        Left -> wrong("WRONG COUNT: ~p left, want ~p", [Left, ?SELECTIVE_NOISE])
    end,
    selective_rounds(R + 1, Rounds, Ns + T1 - T0).

bench_selective(C) ->
    Rounds = scaled(C, 100),
    Ns = selective_rounds(0, Rounds, 0),
    [{"selective", per_op(Ns, Rounds), "ns/receive", Rounds}].

%% ---- timers: many receives with a timeout at once -------------------------

%% Once started, wait for a message that never comes, and report how late
%% the timeout fired.
timer_proc(Main) ->
    Main ! ready,
    receive
        go -> ok
    end,
    Deadline = now_ns() + ?TIMER_WAIT_MS * 1000000,
    receive
        stop -> ok
    after ?TIMER_WAIT_MS ->
        Main ! {late, now_ns() - Deadline}
    end.

collect_lates(0, Lates) ->
    Lates;
collect_lates(K, Lates) ->
    receive
        {late, L} when L >= 0 -> collect_lates(K - 1, [L | Lates]);
        {late, L} -> wrong("WRONG TIMEOUT: fired ~p ns early", [-L])
    end.

bench_timers(C) ->
    N = scaled(C, 100000),
    big_mailbox(),
    Main = self(),
    Pids = [spawn(fun() -> timer_proc(Main) end) || _ <- lists:seq(1, N)],
    receive_n(N, ready), % all blocked in receive
    T0 = now_ns(),
    [Pid ! go || Pid <- Pids],
    Lates = collect_lates(N, []),
    T1 = now_ns(),
    Wait = ?TIMER_WAIT_MS * 1000000,
    [{"timer-late-p50", quantile(Lates, 0.50) / 1.0e3, "us", N},
     {"timer-late-p99", quantile(Lates, 0.99) / 1.0e3, "us", N},
     {"timer-cost", per_op(T1 - T0 - Wait, N), "ns/timer", N}].

%% ---- link-chain: an abnormal exit down a chain of linked processes -------

%% Each process spawn_links the next and waits; the last tells Root when it
%% exits, and exits abnormally: the exit signal ends each one in turn.
chain(Root, N, N) ->
    Root ! {exited, now_ns()},
    exit(?LC_REASON);
chain(Root, Depth, N) ->
    spawn_link(fun() -> chain(Root, Depth + 1, N) end),
    receive after infinity -> ok end.

bench_link_chain(C) ->
    N = scaled(C, 100000),
    process_flag(trap_exit, true),
    Root = self(),
    T0 = now_ns(),
    First = spawn_link(fun() -> chain(Root, 1, N) end),
    Reason = receive {'EXIT', First, R} -> R end,
    T1 = now_ns(),
    Reason =:= ?LC_REASON orelse
        wrong("WRONG: exit reason ~p, want ~p", [Reason, ?LC_REASON]),
    Exited = receive {exited, T} -> T end,
    [{"link-chain", per_op(T1 - T0, N), "ns/process", N},
     {"link-chain-prop", per_op(T1 - Exited, N), "ns/process", N}].

%% ---- idle-rss: memory of processes blocked in receive ---------------------

%% A field of /proc/self/status, in bytes.
vm_status(Field) ->
    {ok, Status} = file:read_file("/proc/self/status"),
    Key = <<Field/binary, ":">>,
    [Kb] = [binary_to_integer(hd(binary:split(string:trim(Rest), <<" ">>)))
            || <<K:(byte_size(Key))/binary, Rest/binary>>
                   <- binary:split(Status, <<"\n">>, [global]),
               K =:= Key],
    Kb * 1024.

idle(Ready) ->
    counters:add(Ready, 1, 1),
    receive
        stop -> ok
    end.

spawn_idle(0, _Ready) ->
    ok;
spawn_idle(K, Ready) ->
    spawn(fun() -> idle(Ready) end),
    spawn_idle(K - 1, Ready).

wait_counter(Ready, N) ->
    case counters:get(Ready, 1) >= N of
        true ->
            ok;
        false ->
            timer:sleep(1),
            wait_counter(Ready, N)
    end.

bench_idle(C) ->
    N = scaled(C, 1000000),
    Ready = counters:new(1, [write_concurrency]),
    Rss0 = vm_status(<<"VmRSS">>),
    Pte0 = vm_status(<<"VmPTE">>),
    T0 = now_ns(),
    spawn_idle(N, Ready),
    wait_counter(Ready, N),
    T1 = now_ns(),
    timer:sleep(1), % the last ones block
    Rss1 = vm_status(<<"VmRSS">>),
    Pte1 = vm_status(<<"VmPTE">>),
    [{"idle-rss", (Rss1 - Rss0) / N, "bytes/proc", N},
     {"idle-pte", (Pte1 - Pte0) / N, "bytes/proc", N},
     {"idle-setup", per_op(T1 - T0, N), "ns/proc", N}].

%% ---- main -----------------------------------------------------------------

usage() ->
    io:format(standard_error,
              "usage: erl -noshell +S N:N +P 2097152 -pa DIR -run lwp_peer main"
              " -extra -b NAME [-s N] [-n SCALE] | -l~n", []),
    erlang:halt(2).

parse_scale(S) ->
    case string:to_float(S) of
        {F, []} ->
            F;
        _ ->
            case string:to_integer(S) of
                {I, []} -> float(I);
                _ -> usage()
            end
    end.

parse(["-b", Name | Rest], Opts) ->
    parse(Rest, Opts#{bench => Name});
parse(["-s", S | Rest], Opts) ->
    case string:to_integer(S) of
        {N, []} when N >= 1 -> parse(Rest, Opts#{scheds => N});
        _ -> usage()
    end;
parse(["-n", S | Rest], Opts) ->
    case parse_scale(S) of
        F when F > 0 -> parse(Rest, Opts#{scale => F});
        _ -> usage()
    end;
parse(["-l" | Rest], Opts) ->
    parse(Rest, Opts#{list => true});
parse([], Opts) ->
    Opts;
parse(_, _Opts) ->
    usage().

print({samples, Fig, Unit, Lat}) ->
    io:format("SAMPLES ~s ~s~s~n",
              [Fig, Unit, [io_lib:format(" ~.6g", [float(V)]) || V <- Lat]]);
print({Fig, V, Unit, Ops}) ->
    io:format("RESULT ~s ~.3f ~s ~b~n", [Fig, float(V), Unit, Ops]).

%% erl -run lwp_peer main -extra ARGS
main() ->
    main(init:get_plain_arguments()).

main(Args) ->
    Opts = parse(Args, #{scheds => 1, scale => 1.0}),
    case Opts of
        #{list := true} ->
            [io:format("~s~n", [Name]) || {Name, _} <- workloads()],
            erlang:halt(0);
        #{bench := Name} ->
            run(Name, Opts);
        _ ->
            usage()
    end.

run(Name, #{scheds := Scheds} = Opts) ->
    Bench = case lists:keyfind(Name, 1, workloads()) of
                {_, Fun} ->
                    Fun;
                false ->
                    io:format(standard_error,
                              "lwp_peer: no workload ~s (-l lists them)~n",
                              [Name]),
                    erlang:halt(2)
            end,
    case erlang:system_info(schedulers_online) of
        Scheds ->
            ok;
        Online ->
            io:format(standard_error,
                      "lwp_peer: ~p schedulers online, -s says ~p: run with "
                      "+S ~p:~p~n", [Online, Scheds, Scheds, Scheds]),
            erlang:halt(2)
    end,
    %% A fresh process runs the workload, as the first process of a run.
    {Pid, Ref} = spawn_monitor(fun() -> exit({done, catch Bench(Opts)}) end),
    receive
        {'DOWN', Ref, process, Pid, {done, Results}} when is_list(Results) ->
            lists:foreach(fun print/1, Results),
            erlang:halt(0);
        {'DOWN', Ref, process, Pid, {done, {wrong, Why}}} ->
            io:format(standard_error, "lwp_peer: ~s: ~s~n", [Name, Why]),
            erlang:halt(1);
        {'DOWN', Ref, process, Pid, Reason} ->
            io:format(standard_error, "lwp_peer: ~s: failed: ~p~n",
                      [Name, Reason]),
            erlang:halt(1)
    end.
