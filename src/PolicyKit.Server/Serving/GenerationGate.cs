using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using PolicyKit.Server.Protocol;

namespace PolicyKit.Server;

/// <summary>
/// Bounds the work the server takes on: at most <see cref="PolicyKitServerOptions.MaxConcurrentRequests"/> generations
/// run at once, at most <see cref="PolicyKitServerOptions.MaxQueuedRequests"/> more wait (oldest first), and any request
/// beyond that is refused at once with 429, so a burst costs a bounded amount of memory.
/// </summary>
public sealed class GenerationGate : IDisposable
{
    private readonly ConcurrencyLimiter _limiter;
    private readonly ServerMetrics _metrics;

    public GenerationGate(IOptions<PolicyKitServerOptions> options, ServerMetrics metrics)
    {
        var settings = options.Value;
        _metrics = metrics;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = settings.MaxConcurrentRequests,
            QueueLimit = settings.MaxQueuedRequests,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>Requests waiting for a generation slot.</summary>
    public long Queued => _limiter.GetStatistics()?.CurrentQueuedCount ?? 0;

    /// <summary>
    /// Waits for a slot; the returned admission counts the request as in flight until it is disposed, which the
    /// endpoint does only once the generation has ended (answered, failed or cancelled).
    /// </summary>
    /// <exception cref="OpenAIRequestException">429: every slot is busy and the queue is full.</exception>
    /// <exception cref="OperationCanceledException">The client went away while waiting.</exception>
    public async ValueTask<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        var lease = await _limiter.AcquireAsync(1, cancellationToken);
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            _metrics.OnRejected();
            throw new OpenAIRequestException(StatusCodes.Status429TooManyRequests,
                "The server is busy: every generation slot is taken and the queue is full. Retry later.",
                type: "rate_limit_exceeded", code: "queue_full");
        }
        return new Admission(lease, _metrics);
    }

    public void Dispose() => _limiter.Dispose();

    private sealed class Admission : IDisposable
    {
        private RateLimitLease? _lease;
        private readonly ServerMetrics _metrics;

        public Admission(RateLimitLease lease, ServerMetrics metrics)
        {
            _lease = lease;
            _metrics = metrics;
            metrics.OnStarted();
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _lease, null) is { } lease)
            {
                _metrics.OnEnded();
                lease.Dispose();
            }
        }
    }
}

/// <summary>
/// What the server has done, for <c>GET /health</c>: generations in flight (back to 0 once every request has ended,
/// however it ended; each one's cache session is freed when its generation ends), and totals by outcome.
/// </summary>
public sealed class ServerMetrics
{
    private int _inFlight;
    private long _completed, _cancelled, _failed, _rejected;

    /// <summary>Admitted requests whose generation has not ended yet.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Generations stopped because their client went away.</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Requests refused with 429.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    internal void OnStarted() => Interlocked.Increment(ref _inFlight);
    internal void OnEnded() => Interlocked.Decrement(ref _inFlight);
    internal void OnCompleted() => Interlocked.Increment(ref _completed);
    internal void OnCancelled() => Interlocked.Increment(ref _cancelled);
    internal void OnFailed() => Interlocked.Increment(ref _failed);
    internal void OnRejected() => Interlocked.Increment(ref _rejected);
}
