using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Tasks;

namespace PolicyKit.Server.Tests;

/// <summary>
/// The server on a real Kestrel listener (127.0.0.1, a free port) over the shipped model, which answers transform
/// prompts exactly. Defaults chosen for speed: no cache (an exact path) with Fast-dLLM threshold decoding at 0.9
/// (a transform answer in about three steps); a request changes them with its own fields.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    protected virtual int MaxConcurrentRequests => 16;
    protected virtual int MaxQueuedRequests => 16;

    public const string ModelId = "policykit-ref";

    protected virtual void Configure(PolicyKit.Hosting.PolicyKitOptions options)
    {
        options.ModelDirectory = ShippedModel.Directory;
        options.DefaultPolicy = "none";
        options.Sampler.GenLength = 32;
        options.Sampler.Steps = 32;
        options.Sampler.BlockLength = 16;
        options.Sampler.Threshold = 0.9;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromMinutes(3) };

    public IServiceProvider Services => _app!.Services;

    public async Task InitializeAsync()
    {
        _app = PolicyKitServerApp.Build("http://127.0.0.1:0", Configure, server =>
        {
            server.MaxConcurrentRequests = MaxConcurrentRequests;
            server.MaxQueuedRequests = MaxQueuedRequests;
        });
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Urls.Single());
        Http.BaseAddress = BaseAddress;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null) await _app.DisposeAsync();
    }

    /// <summary>GET /health as JSON.</summary>
    public async Task<JsonElement> HealthAsync() => await Http.GetFromJsonAsync<JsonElement>("/health");

    /// <summary>Polls /health until no generation is in flight (or the time is up) and returns the last answer.</summary>
    public async Task<JsonElement> WaitUntilIdleAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var health = await HealthAsync();
            if (health.GetProperty("in_flight").GetInt32() == 0 || DateTime.UtcNow > deadline) return health;
            await Task.Delay(100);
        }
    }

    /// <summary>Polls /health until a generation is in flight.</summary>
    public async Task WaitUntilBusyAsync(int inFlight, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while ((await HealthAsync()).GetProperty("in_flight").GetInt32() < inFlight)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fewer than {inFlight} generations in flight after {within}");
            await Task.Delay(50);
        }
    }
}

/// <summary>A server with one generation slot and room for one waiting request, to see a third refused.</summary>
public sealed class SingleSlotServerFixture : ServerFixture
{
    protected override int MaxConcurrentRequests => 1;
    protected override int MaxQueuedRequests => 1;
}

/// <summary>The tests that share one server run one after another, so each sees only its own requests in /health.</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

internal static class ShippedModel
{
    public static string Directory { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "models", "policykit-ref");
            if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
        }
        throw new InvalidOperationException("models/policykit-ref not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Transform test samples: the shipped model answers every one exactly (models/README.md).</summary>
internal static class Transform
{
    public static IReadOnlyList<TaskSample> Samples(int count) => TaskSuite.TestSet(new TransformTask(), count);
}
