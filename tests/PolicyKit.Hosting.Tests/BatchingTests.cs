using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting.Tests;

/// <summary>
/// Step-level batching in <see cref="DiffusionGenerator"/>. A blocker request whose step listener waits on a gate holds
/// the scheduler, so the requests queued meanwhile are admitted together at its next step: the tests know what is batched.
/// </summary>
public sealed class BatchingTests(TinyModel model) : IClassFixture<TinyModel>
{
    private static readonly string[] SameLength = ["alpha one", "bravo two", "charl tri", "delta for"];

    /// <summary>A request (its own policy, so never batched with the others) that holds the scheduler at its first step until released.</summary>
    private sealed class Blocker : IDisposable
    {
        private readonly ManualResetEventSlim _entered = new(), _release = new();

        public Blocker(IDiffusionGenerator generator, string policy = "prompt-cache")
        {
            Task = generator.GenerateAsync("blocker", generator.DefaultOptions, policy, report =>
            {
                if (report.Step.Step != 0) return;
                _entered.Set();
                _release.Wait(TimeSpan.FromMinutes(2));
            });
            Assert.True(_entered.Wait(TimeSpan.FromMinutes(2)), "the blocker never ran");
        }

        public Task<GenerationResult> Task { get; }

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _entered.Dispose();
        }
    }

    private static ServiceProvider Build(string directory, int maxBatch = 16, int maxQueue = 64, params (string, string)[] extra) =>
        Hosts.Build(Hosts.Settings(directory, [("Batching:MaxBatchSize", $"{maxBatch}"), ("Batching:MaxQueuedRequests", $"{maxQueue}"), .. extra]));

    private static async Task<GenerationResult[]> Batched(IDiffusionGenerator generator, string[] prompts, string policy, Func<int, Action<SamplerStepReport>?>? onStep = null,
        Func<int, CancellationToken>? token = null)
    {
        using var blocker = new Blocker(generator);
        var tasks = prompts.Select((p, i) => generator.GenerateAsync(p, generator.DefaultOptions, policy, onStep?.Invoke(i), token?.Invoke(i) ?? default)).ToArray();
        blocker.Release();
        await blocker.Task;
        return await Task.WhenAll(tasks);
    }

    private static (int Cohorts, int Largest) Formed(IDiffusionGenerator generator) => ((DiffusionGenerator)generator).BatchesFormed;

    [Theory]
    [InlineData("dllm-cache")]
    [InlineData("fast-dllm-dual")]
    [InlineData("dpad")]
    public async Task Batched_requests_keep_the_plans_and_costs_of_their_solo_runs(string policy)
    {
        using var solo = Build(model.Directory, maxBatch: 1);
        var alone = new List<GenerationResult>();
        foreach (var prompt in SameLength) alone.Add(await solo.GetRequiredService<IDiffusionGenerator>().GenerateAsync(prompt, policy));

        using var provider = Build(model.Directory);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var batched = await Batched(generator, SameLength, policy);

        Assert.Equal((2, SameLength.Length), Formed(generator));  // the blocker, then one cohort of all four
        for (int i = 0; i < SameLength.Length; i++)
        {
            // Same steps and blocks, so the same plan at every layer: the same rows recomputed and the same FLOPs.
            Assert.Equal(alone[i].Steps, batched[i].Steps);
            Assert.Equal(alone[i].RecomputeFraction, batched[i].RecomputeFraction);
            Assert.Equal(alone[i].Flops.Executed, batched[i].Flops.Executed, 6);
            Assert.Equal(alone[i].Flops.Full, batched[i].Flops.Full, 6);
            Assert.Equal(alone[i].CacheBytes, batched[i].CacheBytes);
            Assert.Equal(policy, batched[i].Policy);
        }
    }

    /// <summary>Retrieval prompts as the shipped model was trained on them: 43 <c>K=VVV;</c> records, then <c>?K=</c> (261 tokens each).</summary>
    private static string[] RetrievalPrompts(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var keys = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".ToCharArray();
            random.Shuffle(keys);
            var records = keys[..43].Select(k => $"{k}={random.Next(1000):D3};").ToArray();
            return string.Concat(records) + $"?{keys[random.Next(43)]}=";
        }).ToArray();
    }

    [Theory]
    [InlineData("none")]
    [InlineData("always-refresh")]
    public async Task On_the_shipped_model_exact_policies_answer_in_a_batch_as_they_answer_alone(string policy)
    {
        var shipped = Path.Combine(RepositoryRoot(), "models", "policykit-ref");
        (string, string)[] retrieval = [("Sampler:GenLength", "16"), ("Sampler:Steps", "16"), ("Sampler:BlockLength", "16")];
        var prompts = RetrievalPrompts(4, seed: 3);
        using var solo = Build(shipped, 1, 64, retrieval);
        var alone = new List<GenerationResult>();
        foreach (var prompt in prompts) alone.Add(await solo.GetRequiredService<IDiffusionGenerator>().GenerateAsync(prompt, policy));

        using var provider = Build(shipped, 16, 64, retrieval);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var batched = await Batched(generator, prompts, policy);
        Assert.Equal(prompts.Length, Formed(generator).Largest);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(alone[i].TokenIds, batched[i].TokenIds);
            Assert.Equal(alone[i].Text, batched[i].Text);
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.sln"))) return dir.FullName;
        throw new InvalidOperationException("PolicyKit.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Requests_of_other_shapes_are_not_batched_together()
    {
        using var provider = Build(model.Directory);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        using var blocker = new Blocker(generator);
        var tasks = new[]
        {
            generator.GenerateAsync("alpha one", "none"),
            generator.GenerateAsync("alpha one", "dllm-cache"),                                        // another policy
            generator.GenerateAsync("alpha", "none"),                                                  // another prompt length
            generator.GenerateAsync("alpha one", generator.DefaultOptions with { Steps = 16 }, "none"), // other settings
            generator.GenerateAsync("bravo two", generator.DefaultOptions with { Seed = 5 }, "none"),  // only the seed differs: batched
        };
        blocker.Release();
        await Task.WhenAll(tasks.Append(blocker.Task));
        Assert.Equal((5, 2), Formed(generator));
    }

    [Fact]
    public async Task A_request_that_arrives_later_starts_at_the_next_step_and_leaves_when_done()
    {
        using var provider = Build(model.Directory);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var events = new List<string>();
        var longOptions = generator.DefaultOptions with { GenLength = 32, Steps = 32 };
        var shortOptions = generator.DefaultOptions with { GenLength = 8, Steps = 4, BlockLength = 8 };
        var joined = new TaskCompletionSource<Task<GenerationResult>>();
        var first = generator.GenerateAsync("the long one", longOptions, "dllm-cache", report =>
        {
            lock (events) events.Add($"long {report.Step.Step}");
            // Arrives while the long request runs (from its listener, so at a known step).
            if (report.Step.Step == 2)
                joined.SetResult(generator.GenerateAsync("short", shortOptions, "dllm-cache", r => { lock (events) events.Add($"short {r.Step.Step}"); }));
        });
        var late = await (await joined.Task);
        var early = await first;

        Assert.Equal(32, early.Steps);
        Assert.Equal(4, late.Steps);
        // The short request ran its four steps between the long one's steps 2 and 7, and was answered long before it.
        int shortStart = events.IndexOf("short 0"), shortEnd = events.IndexOf("short 3");
        Assert.True(events.IndexOf("long 2") < shortStart && shortEnd < events.IndexOf("long 7"), string.Join(", ", events));
    }

    [Fact]
    public async Task Cancelling_one_batched_request_leaves_the_others_answers_unchanged()
    {
        using var provider = Build(model.Directory);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        var reference = await Batched(generator, SameLength, "dllm-cache");

        // The other rows of the cohort ran on: the same computation, so the same tokens to the bit.
        var tasks = new List<Task<GenerationResult>>();
        using (var blocker = new Blocker(generator))
        {
            using var again = new CancellationTokenSource();
            tasks.AddRange(SameLength.Select((p, i) => generator.GenerateAsync(p, generator.DefaultOptions, "dllm-cache",
                i == 1 ? report => { if (report.Step.Step == 2) again.Cancel(); } : null, i == 1 ? again.Token : default)));
            blocker.Release();
            await blocker.Task;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => tasks[1]);
        }
        for (int i = 0; i < SameLength.Length; i++)
            if (i != 1) Assert.Equal(reference[i].TokenIds, (await tasks[i]).TokenIds);
        Assert.Equal(0, ((DiffusionGenerator)generator).Load.Running);
    }

    [Fact]
    public async Task A_full_queue_refuses_the_next_request_with_a_clear_error()
    {
        using var provider = Build(model.Directory, maxBatch: 1, maxQueue: 1);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        using var blocker = new Blocker(generator);
        var waiting = generator.GenerateAsync("alpha one", "none");
        var refused = await Assert.ThrowsAsync<GenerationQueueFullException>(() => generator.GenerateAsync("bravo two", "none"));
        Assert.Contains("1 batch rows are taken and 1 requests already wait", refused.Message);
        blocker.Release();
        await blocker.Task;
        Assert.Equal(16, (await waiting).TokenIds.Count);
        Assert.Equal((0, 0), ((DiffusionGenerator)generator).Load);
    }

    [Fact]
    public async Task A_request_cancelled_while_it_waits_leaves_the_queue()
    {
        using var provider = Build(model.Directory, maxBatch: 1, maxQueue: 1);
        var generator = provider.GetRequiredService<IDiffusionGenerator>();
        using var blocker = new Blocker(generator);
        using var cancel = new CancellationTokenSource();
        var waiting = generator.GenerateAsync("alpha one", generator.DefaultOptions, "none", cancel.Token);
        cancel.Cancel();
        blocker.Release();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await blocker.Task;
        Assert.Equal((0, 0), ((DiffusionGenerator)generator).Load);
    }
}
