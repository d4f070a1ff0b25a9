using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace PolicyKit.Server.Tests;

/// <summary>A test that runs only when <c>POLICYKIT_LOAD=1</c>: it measures, it does not check, and it takes minutes.</summary>
public sealed class LoadFactAttribute : FactAttribute
{
    public LoadFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("POLICYKIT_LOAD") != "1")
            Skip = "a load measurement, not part of the normal run: set POLICYKIT_LOAD=1 to run it";
    }
}

/// <summary>A server with <c>policykit serve</c>'s defaults: dllm-cache, 32 tokens in 32 steps, blocks of 16, 4 slots, 64 queued.</summary>
public sealed class ServeDefaultsFixture : ServerFixture
{
    protected override int MaxConcurrentRequests => 4;
    protected override int MaxQueuedRequests => 64;
    protected override void Configure(PolicyKit.Hosting.PolicyKitOptions options)
    {
        base.Configure(options);
        options.DefaultPolicy = "dllm-cache";
        options.Sampler.Threshold = null;
    }
}

/// <summary>
/// Requests/s and p50/p95 latency of streaming chat completions at 1, 4 and 16 concurrent clients (the official
/// OpenAI client, a transform prompt each, latency to the last event). Run by hand:
/// <c>POLICYKIT_LOAD=1 dotnet test tests/PolicyKit.Server.Tests --filter Category=Load --logger "console;verbosity=detailed"</c>
/// (<c>POLICYKIT_LOAD_OUT=FILE</c> also writes the table to FILE).
/// </summary>
[Trait("Category", "Load")]
public sealed class LoadTests(ITestOutputHelper log)
{
    [LoadFact]
    public async Task Requests_per_second_and_latency_at_1_4_and_16_clients()
    {
        // Started here rather than as a class fixture, so the normal run (where this test is skipped) starts no server.
        var server = new ServeDefaultsFixture();
        await server.InitializeAsync();
        try
        {
            await Measure(server);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private async Task Measure(ServeDefaultsFixture server)
    {
        var samples = Transform.Samples(64);
        var options = new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromMinutes(10) };
        await Stream(new ChatClient(ServerFixture.ModelId, new ApiKeyCredential("x"), options), samples[0].Prompt);  // warm-up, untimed

        var table = new StringBuilder("| clients | requests | requests/s | p50 latency (s) | p95 latency (s) | exact answers |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
        foreach (var (clients, perClient) in new[] { (1, 8), (4, 4), (16, 2) })
        {
            var latencies = new List<double>();
            int exact = 0;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
            {
                var chat = new ChatClient(ServerFixture.ModelId, new ApiKeyCredential("x"), options);
                for (int r = 0; r < perClient; r++)
                {
                    var sample = samples[(c * perClient + r) % samples.Count];
                    var clock = Stopwatch.StartNew();
                    var text = await Stream(chat, sample.Prompt);
                    lock (latencies)
                    {
                        latencies.Add(clock.Elapsed.TotalSeconds);
                        if (text == sample.Answer) exact++;
                    }
                }
            }));
            wall.Stop();
            latencies.Sort();
            int n = latencies.Count;
            table.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {clients} | {n} | {n / wall.Elapsed.TotalSeconds:F2} | {Percentile(latencies, 0.50):F2} | {Percentile(latencies, 0.95):F2} | {exact}/{n} |"));
            Assert.Equal(0, (await server.WaitUntilIdleAsync(TimeSpan.FromSeconds(30))).GetProperty("in_flight").GetInt32());
        }
        log.WriteLine(table.ToString());
        if (Environment.GetEnvironmentVariable("POLICYKIT_LOAD_OUT") is { Length: > 0 } file) File.WriteAllText(file, table.ToString());
    }

    private static async Task<string> Stream(ChatClient chat, string prompt)
    {
        var text = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(prompt)]))
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
        return text.ToString();
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(List<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}
