using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PolicyKit.Hosting;
using PolicyKit.Server.Endpoints;

namespace PolicyKit.Server.Tests;

/// <summary>The generator's own bound (PolicyKit:Batching) reaches the client as the gate's does: a 429 queue_full.</summary>
public sealed class BatchQueueTests
{
    [Fact]
    public async Task A_full_batch_queue_is_a_429_with_retry_after_and_counts_as_rejected()
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        var metrics = new ServerMetrics();
        using var gate = new GenerationGate(Options.Create(new PolicyKitServerOptions()), metrics);

        await RequestPipeline.RunAsync(context, NullLogger.Instance, "prompt",
            () => RequestPipeline.GenerateAsync(gate, metrics, CancellationToken.None, () => throw new GenerationQueueFullException(16, 64)));

        Assert.Equal(StatusCodes.Status429TooManyRequests, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        context.Response.Body.Position = 0;
        var error = JsonDocument.Parse(context.Response.Body).RootElement.GetProperty("error");
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        Assert.Contains("all 16 batch rows are taken and 64 requests already wait", error.GetProperty("message").GetString());
        Assert.Equal((1, 0, 0), (metrics.Rejected, metrics.Failed, metrics.InFlight));
    }
}
