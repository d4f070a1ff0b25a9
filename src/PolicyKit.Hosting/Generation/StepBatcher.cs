using System.Diagnostics;
using PolicyKit.Diffusion.Flops;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;
using TorchSharp;

namespace PolicyKit.Hosting;

/// <summary>
/// Step-level batching of concurrent generations. One scheduler thread runs every admitted generation one
/// denoising step at a time, in turns, so a request that arrives while others run starts at the next step instead of
/// waiting for them to end, and leaves (freeing its rows and cache session) at the step it finishes.
/// </summary>
/// <remarks>
/// <para>Requests admitted at the same step that have the same shape (same policy, sampler settings and prompt length)
/// form one <em>cohort</em>: one sampler run of several rows and one forward per step, so every native call of the
/// model and of the cache executor serves all of them. The rows of a cohort start together and stay in lockstep, so
/// every row's step, block and refresh counters, and hence every plan the policy makes, are those of the row's solo
/// run; each row keeps its own random stream (its own seed). Row-wise decisions stay per row (ratio selectors choose
/// each row's own columns); decisions the executor takes over the batch (threshold selectors, decode-state overrides)
/// recompute for each row at least what its solo run recomputes. Threshold decoding runs each request alone: its
/// blocks end when its own tokens are decoded, which lockstep rows would not respect.</para>
/// <para>At most <see cref="PolicyKitBatchingSettings.MaxBatchSize"/> rows run at once; up to
/// <see cref="PolicyKitBatchingSettings.MaxQueuedRequests"/> more wait (oldest first) and one more is refused with
/// <see cref="GenerationQueueFullException"/>. A cancelled request leaves at the next step; its cohort's other rows
/// carry on untouched (a cohort whose rows have all left is freed at once).</para>
/// </remarks>
internal sealed class StepBatcher : IDisposable
{
    private readonly TextGenerator _text;
    private readonly int _maxBatchSize;
    private readonly int _maxQueued;
    private readonly object _lock = new();
    private readonly List<BatchRequest> _waiting = [];
    private readonly List<Cohort> _running = [];
    private int _runningRows;
    private int _cohorts, _largestCohort;
    private Thread? _thread;
    private bool _disposed;

    public StepBatcher(TextGenerator text, PolicyKitBatchingSettings settings)
    {
        _text = text;
        _maxBatchSize = settings.MaxBatchSize;
        _maxQueued = settings.MaxQueuedRequests;
    }

    /// <summary>Requests admitted and not ended (the rows of running cohorts, cancelled rows until their cohort ends).</summary>
    public int RunningRows { get { lock (_lock) return _runningRows; } }

    /// <summary>Cohorts formed so far, and the most rows one of them had (what batching achieved).</summary>
    public (int Cohorts, int LargestCohort) Formed { get { lock (_lock) return (_cohorts, _largestCohort); } }

    /// <summary>Requests waiting for rows.</summary>
    public int Queued { get { lock (_lock) return _waiting.Count; } }

    /// <summary>Queues one generation; the task ends when it is answered, cancelled or failed.</summary>
    /// <exception cref="GenerationQueueFullException">Every row is taken and the queue is full.</exception>
    public Task<GenerationResult> Enqueue(int[] promptIds, SamplerOptions options, ICachePolicy policy, Action<SamplerStepReport>? onStep,
        CancellationToken cancellationToken)
    {
        var request = new BatchRequest(promptIds, options, policy, onStep, cancellationToken);
        // A cancelled request wakes the scheduler, which ends it at the next step boundary.
        request.Registration = cancellationToken.Register(static state => ((StepBatcher)state!).Wake(), this);
        lock (_lock)
        {
            if (_disposed || _runningRows + _waiting.Count >= _maxBatchSize + _maxQueued)
            {
                request.Registration.Dispose();
                ObjectDisposedException.ThrowIf(_disposed, this);
                throw new GenerationQueueFullException(_maxBatchSize, _maxQueued);
            }
            _waiting.Add(request);
            if (_thread is null)
            {
                _thread = new Thread(Loop) { IsBackground = true, Name = "PolicyKit step batcher" };
                // The scheduler serves every caller: it must not carry the first one's context (its Activity.Current).
                using (ExecutionContext.SuppressFlow()) _thread.Start();
            }
            Monitor.Pulse(_lock);
        }
        return request.Completion.Task;
    }

    private void Wake()
    {
        lock (_lock) Monitor.Pulse(_lock);
    }

    private void Loop()
    {
        using var noGrad = torch.no_grad();
        while (true)
        {
            List<BatchRequest> ended = [];
            List<BatchRequest[]> admitted;
            lock (_lock)
            {
                if (!_disposed && _running.Count == 0 && _waiting.Count == 0)
                {
                    while (!_disposed && _waiting.Count == 0) Monitor.Wait(_lock);
                    SettleArrivals();
                }
                if (_disposed) break;
                ended.AddRange(_waiting.Where(r => r.Token.IsCancellationRequested));
                _waiting.RemoveAll(r => r.Token.IsCancellationRequested);
                admitted = Admit();
            }
            foreach (var request in ended) request.Cancel();
            foreach (var group in admitted) Start(group);
            RunOneStepOfEach();
        }
        Shutdown();
    }

    /// <summary>
    /// Woken from idle by one request: waits while more keep arriving (each within <see cref="SettleTime"/> of the last,
    /// the batch not full), so that a burst of concurrent requests starts as one cohort instead of the first alone and
    /// the rest a step later. Costs a lone request one <see cref="SettleTime"/> (under the lock).
    /// </summary>
    private void SettleArrivals()
    {
        int seen;
        do
        {
            seen = _waiting.Count;
            Monitor.Wait(_lock, SettleTime);
        } while (!_disposed && _waiting.Count != seen && _waiting.Count < _maxBatchSize);
    }

    private static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(5);

    /// <summary>Forms cohorts of waiting requests, oldest first, while rows are free (under the lock).</summary>
    private List<BatchRequest[]> Admit()
    {
        var cohorts = new List<BatchRequest[]>();
        while (_waiting.Count > 0 && _runningRows < _maxBatchSize)
        {
            var head = _waiting[0];
            var members = new List<BatchRequest> { head };
            if (head.Options.Schedule != TransferSchedule.Threshold)
                for (int i = 1; i < _waiting.Count && _runningRows + members.Count < _maxBatchSize; i++)
                    if (head.SameShape(_waiting[i])) members.Add(_waiting[i]);
            foreach (var member in members) _waiting.Remove(member);
            _runningRows += members.Count;
            _cohorts++;
            _largestCohort = Math.Max(_largestCohort, members.Count);
            cohorts.Add(members.ToArray());
        }
        return cohorts;
    }

    private void Start(BatchRequest[] requests)
    {
        try
        {
            var cohort = new Cohort(_text, requests);
            lock (_lock) _running.Add(cohort);
        }
        catch (Exception e)
        {
            lock (_lock) _runningRows -= requests.Length;
            foreach (var request in requests) request.Fail(e);
        }
    }

    /// <summary>One denoising step of every running cohort, in turn; cohorts that have finished (or lost every row) leave.</summary>
    private void RunOneStepOfEach()
    {
        Cohort[] running;
        lock (_lock) running = _running.ToArray();
        foreach (var cohort in running)
        {
            bool over;
            Exception? failure = null;
            try
            {
                over = cohort.Step();
            }
            catch (Exception e)
            {
                failure = e;
                over = true;
            }
            if (!over) continue;
            cohort.Dispose();  // the cache session is freed before any of its requests ends
            lock (_lock)
            {
                _running.Remove(cohort);
                _runningRows -= cohort.Rows;
            }
            try
            {
                if (failure is null) cohort.Complete();
                else cohort.Fail(failure);
            }
            catch (Exception e)
            {
                cohort.Fail(e);
            }
        }
    }

    private void Shutdown()
    {
        Cohort[] running;
        BatchRequest[] waiting;
        lock (_lock)
        {
            running = _running.ToArray();
            waiting = _waiting.ToArray();
            _running.Clear();
            _waiting.Clear();
        }
        var stopped = new ObjectDisposedException(nameof(IDiffusionGenerator), "The generator was disposed while the request ran.");
        foreach (var cohort in running)
        {
            cohort.Dispose();
            cohort.Fail(stopped);
        }
        foreach (var request in waiting) request.Fail(stopped);
    }

    /// <summary>Stops the scheduler after its current step; requests still running or waiting fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            thread = _thread;
            Monitor.Pulse(_lock);
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join();
    }

    /// <summary>One queued generation and the task its caller awaits.</summary>
    private sealed class BatchRequest(int[] promptIds, SamplerOptions options, ICachePolicy policy, Action<SamplerStepReport>? onStep, CancellationToken token)
    {
        // Rows a cohort groups must agree on everything but the seed (each row keeps its own random stream).
        private readonly SamplerOptions _shape = options with { Seed = 0 };

        public int[] PromptIds { get; } = promptIds;
        public SamplerOptions Options { get; } = options;
        public ICachePolicy Policy { get; } = policy;
        public Action<SamplerStepReport>? OnStep { get; } = onStep;
        public CancellationToken Token { get; } = token;
        public CancellationTokenRegistration Registration { get; set; }
        public TaskCompletionSource<GenerationResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Ended: answered, cancelled or failed (its row, if any, idles until the cohort ends).</summary>
        public bool HasEnded => Completion.Task.IsCompleted;

        public bool SameShape(BatchRequest other) =>
            ReferenceEquals(Policy, other.Policy) && PromptIds.Length == other.PromptIds.Length && _shape == other._shape;

        public void Fail(Exception e)
        {
            Registration.Dispose();
            if (e is OperationCanceledException && Token.IsCancellationRequested) Completion.TrySetCanceled(Token);
            else Completion.TrySetException(e);
        }

        public void End(GenerationResult result)
        {
            Registration.Dispose();
            Completion.TrySetResult(result);
        }

        public void Cancel()
        {
            Registration.Dispose();
            Completion.TrySetCanceled(Token);
        }
    }

    /// <summary>Requests of one shape admitted together: one sampler run with a row each, one denoiser (cache session, FLOPs tally).</summary>
    private sealed class Cohort : IDisposable
    {
        private readonly TextGenerator _text;
        private readonly BatchRequest[] _requests;
        private readonly ModelDenoiser _denoiser;
        private readonly SamplerRun _run;
        private readonly long _started = Stopwatch.GetTimestamp();
        private TimeSpan _elapsed;
        private long _cacheBytes;

        public Cohort(TextGenerator text, BatchRequest[] requests)
        {
            _text = text;
            _requests = requests;
            var head = requests[0];
            var sampler = new DiffusionSampler(head.Options);
            _denoiser = new ModelDenoiser(text.Model, head.Policy);
            try
            {
                _run = sampler.Start(_denoiser, requests.Select(r => (IReadOnlyList<int>)r.PromptIds).ToArray(), requests.Select(r => r.Options.Seed).ToArray());
            }
            catch
            {
                _denoiser.Dispose();
                throw;
            }
        }

        public int Rows => _requests.Length;

        /// <summary>
        /// Ends the rows whose callers cancelled, then runs one step (unless no row is left). Returns true when the
        /// cohort is over: every step run, or every row ended.
        /// </summary>
        public bool Step()
        {
            foreach (var request in _requests)
                if (!request.HasEnded && request.Token.IsCancellationRequested) request.Cancel();
            if (_requests.All(r => r.HasEnded)) return true;

            bool listened = _requests.Any(r => r.OnStep is not null && !r.HasEnded);
            var report = _run.Step(report: listened);
            if (report is not null)
                for (int row = 0; row < _requests.Length; row++)
                {
                    var request = _requests[row];
                    if (request.OnStep is null || request.HasEnded) continue;
                    try
                    {
                        request.OnStep(new SamplerStepReport(report.Step, [report.Tokens[row]], [report.Committed[row]],
                            report.Predicted is null ? null : [report.Predicted[row]]));
                    }
                    catch (Exception e)
                    {
                        request.Fail(e);  // a listener's failure ends its own request only
                    }
                }
            if (!_run.IsDone) return false;
            _elapsed = Stopwatch.GetElapsedTime(_started);
            _cacheBytes = _denoiser.CacheBytes;  // read before the caches are freed
            return true;
        }

        /// <summary>Answers every row still waiting for one (after <see cref="Dispose"/>: the statistics were kept).</summary>
        public void Complete()
        {
            if (!_run.IsDone) return;
            var result = _run.Result();
            var total = _denoiser.Flops;
            // Every row of a cohort does the same work: each request is charged its share.
            var flops = new FlopCount(total.Executed / Rows, total.Full / Rows);
            for (int row = 0; row < _requests.Length; row++)
            {
                var request = _requests[row];
                if (request.HasEnded) continue;
                var ids = result.ResponseIds[row];
                request.End(new GenerationResult(_text.Decode(ids), ids, result.Steps, _elapsed, flops, request.Policy.Name,
                    _denoiser.RecomputeFraction, _cacheBytes / Rows));
            }
        }

        public void Fail(Exception e)
        {
            foreach (var request in _requests) request.Fail(e);
        }

        public void Dispose()
        {
            _run.Dispose();
            _denoiser.Dispose();
        }
    }
}

/// <summary>The generator's queue is full: every batch row is taken and <see cref="PolicyKitBatchingSettings.MaxQueuedRequests"/> requests wait.</summary>
public sealed class GenerationQueueFullException : InvalidOperationException
{
    public GenerationQueueFullException(int maxBatchSize, int maxQueued)
        : base($"The generator is busy: all {maxBatchSize} batch rows are taken and {maxQueued} requests already wait (PolicyKit:Batching). Retry later.")
    {
        MaxBatchSize = maxBatchSize;
        MaxQueuedRequests = maxQueued;
    }

    public int MaxBatchSize { get; }

    public int MaxQueuedRequests { get; }
}
