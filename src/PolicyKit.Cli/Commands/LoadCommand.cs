using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Runtime;
using PolicyKit.Hosting;
using PolicyKit.Tasks;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit load</c>: concurrent clients against <see cref="IDiffusionGenerator"/> (what <c>serve</c> and the chat
/// client run on), with step-level batching and with one generation at a time, interleaved round by round; prints
/// throughput, latency percentiles and whether every answer matched between the two.
/// </summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var policy = new Option<string>("--policy") { Description = "Cache policy of every request (see `policykit policies`).", DefaultValueFactory = _ => "dllm-cache" };
        var task = new Option<string>("--task") { Description = $"Task whose test prompts the clients send ({string.Join(", ", TaskSuite.All.Select(t => t.Name))}).", DefaultValueFactory = _ => "needle" };
        var concurrency = new Option<int>("--concurrency") { Description = "Clients sending requests at once, each its next one as soon as its last is answered.", DefaultValueFactory = _ => 16 };
        var requests = new Option<int?>("--requests") { Description = "Requests per round and mode (default: 2 x --concurrency)." };
        var maxBatch = new Option<int?>("--max-batch") { Description = "PolicyKit:Batching:MaxBatchSize of the batched mode (default: --concurrency)." };
        var rounds = new Option<int>("--rounds") { Description = "Rounds; each runs one-at-a-time then batched, and the table reports every round's sum.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the task's test prompts.", DefaultValueFactory = _ => 0 };

        var command = new Command("load",
            "Measure concurrent requests through the generator: throughput and p50/p95 latency with step-level batching against one " +
            "generation at a time (PolicyKit:Batching:MaxBatchSize 1), on the same prompts, and whether each request's answer is the same in both.")
        {
            model, device, policy, task, concurrency, requests, maxBatch, rounds, seed,
        };
        command.SetAction((parse, _) => CliErrors.Guard(async ct =>
        {
            var directory = parse.GetValue(model)?.FullName ?? ModelLocator.DefaultModelDirectory();
            if (!Directory.Exists(directory)) throw new ArgumentException($"--model: directory not found: {directory}");
            int clients = parse.GetValue(concurrency);
            if (clients < 1) throw new ArgumentException($"--concurrency: must be at least 1 (got {clients}).");
            int count = parse.GetValue(requests) ?? 2 * clients;
            if (count < 1) throw new ArgumentException($"--requests: must be at least 1 (got {count}).");
            int batch = parse.GetValue(maxBatch) ?? clients;
            if (batch < 1) throw new ArgumentException($"--max-batch: must be at least 1 (got {batch}).");
            int roundCount = parse.GetValue(rounds);
            if (roundCount < 1) throw new ArgumentException($"--rounds: must be at least 1 (got {roundCount}).");
            var policyName = parse.GetValue(policy)!;
            Policies.Create(policyName);  // an unknown name fails here, naming --policy
            var benchmarkTask = TaskSuite.Get(parse.GetValue(task)!);
            var prompts = TaskSuite.TestSet(benchmarkTask, count, parse.GetValue(seed)).Select(s => s.Prompt).ToArray();

            TorchRuntime.EnsureLoaded();
            using var loaded = DiffusionModel.Load(directory, parse.GetValue(device)!);
            var modes = new[] { ("one at a time", 1), ($"batched (max {batch})", batch) };
            var providers = modes.Select(m => Build(loaded, directory, policyName, benchmarkTask, m.Item2)).ToArray();
            try
            {
                var generators = providers.Select(p => p.GetRequiredService<IDiffusionGenerator>()).ToArray();
                foreach (var g in generators) await g.GenerateAsync(prompts[0], cancellationToken: ct);  // LibTorch's lazy start-up, once per mode

                Console.WriteLine($"policykit load: {count} {benchmarkTask.Name} requests x {roundCount} round(s), {clients} concurrent clients, policy {policyName}, " +
                                  $"gen {benchmarkTask.GenLength}, {Environment.ProcessorCount} cores");
                var totals = modes.Select(_ => new Totals()).ToArray();
                for (int round = 0; round < roundCount; round++)
                    for (int m = 0; m < modes.Length; m++)
                        totals[m].Add(await RunRound(generators[m], prompts, clients, ct));

                var solo = totals[0];
                Console.WriteLine();
                Console.WriteLine($"{"mode",-20} {"wall s",8} {"req/s",8} {"tokens/s",9} {"p50 s",8} {"p95 s",8} {"max s",8} {"speedup",8}");
                foreach (var (mode, t) in modes.Select((m, i) => (m.Item1, totals[i])))
                {
                    double tokensPerSecond = t.Latencies.Count * benchmarkTask.GenLength / t.Wall;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{mode,-20} {t.Wall,8:F2} {t.Latencies.Count / t.Wall,8:F2} {tokensPerSecond,9:F1} {t.Percentile(0.50),8:F2} {t.Percentile(0.95),8:F2} {t.Percentile(1),8:F2} {solo.Wall / t.Wall,7:F2}x"));
                }
                int same = Enumerable.Range(0, totals[0].Answers.Count).Count(i => totals[0].Answers[i].SequenceEqual(totals[1].Answers[i]));
                var batcher = ((DiffusionGenerator)generators[1]).BatchesFormed;
                Console.WriteLine();
                Console.WriteLine($"answers identical in both modes: {same}/{totals[0].Answers.Count}");
                Console.WriteLine($"batched mode formed {batcher.Cohorts} cohorts (largest {batcher.LargestCohort} requests), warm-ups included");
                return 0;
            }
            finally
            {
                foreach (var p in providers) p.Dispose();
            }
        }));
        return command;
    }

    /// <summary>A container over the already loaded model (it is not the container's, so not disposed with it).</summary>
    private static ServiceProvider Build(DiffusionModel model, string directory, string policy, IBenchmarkTask task, int maxBatch)
    {
        var services = new ServiceCollection();
        services.AddSingleton(model);
        services.AddPolicyKit(options =>
        {
            options.ModelDirectory = directory;
            options.DefaultPolicy = policy;
            options.Sampler.GenLength = task.GenLength;
            options.Sampler.Steps = task.GenLength;
            options.Sampler.BlockLength = task.BlockLength;
            options.Batching.MaxBatchSize = maxBatch;
            options.Batching.MaxQueuedRequests = 1024;
        });
        return services.BuildServiceProvider();
    }

    /// <summary>
    /// Every prompt once, sent by <paramref name="clients"/> closed-loop clients (each sends the next prompt when its
    /// last is answered). Latency is from sending to the answer, the wait for a batch row included.
    /// </summary>
    private static async Task<Round> RunRound(IDiffusionGenerator generator, string[] prompts, int clients, CancellationToken ct)
    {
        var latencies = new double[prompts.Length];
        var answers = new IReadOnlyList<long>[prompts.Length];
        int next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Math.Min(clients, prompts.Length)).Select(async _ =>
        {
            for (int i = Interlocked.Increment(ref next); i < prompts.Length; i = Interlocked.Increment(ref next))
            {
                long sent = Stopwatch.GetTimestamp();
                var result = await generator.GenerateAsync(prompts[i], cancellationToken: ct);
                latencies[i] = Stopwatch.GetElapsedTime(sent).TotalSeconds;
                answers[i] = result.TokenIds;
            }
        }));
        return new Round(clock.Elapsed.TotalSeconds, latencies, answers);
    }

    private sealed record Round(double Wall, double[] Latencies, IReadOnlyList<long>[] Answers);

    private sealed class Totals
    {
        public double Wall { get; private set; }
        public List<double> Latencies { get; } = [];
        public List<IReadOnlyList<long>> Answers { get; } = [];

        public void Add(Round round)
        {
            Wall += round.Wall;
            Latencies.AddRange(round.Latencies);
            Answers.AddRange(round.Answers);
        }

        /// <summary>The nearest-rank percentile of the latencies (1 = the largest).</summary>
        public double Percentile(double p)
        {
            var sorted = Latencies.Order().ToArray();
            return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        }
    }
}
