using PolicyKit.Diffusion.Sampling;
using PolicyKit.Generated;
using TorchSharp;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>
/// Parallel generations on one shared model, each with its own cache session, give exactly the tokens the
/// same requests give one after another: no cache, counter or random stream is shared between them.
/// </summary>
public class ConcurrencyTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const int Workers = 4;

    private sealed record Request(string Prompt, string Policy, SamplerOptions Options);

    /// <summary>Each worker mixes policies and sampler shapes; sampled (temperature) requests depend on their seed.</summary>
    private static Request[][] Requests()
    {
        var names = PolicyKitPoliciesPolicyRegistry.Names;
        string[] prompts = ["the cat sat", "once upon a time", "x", "a longer prompt with more words in it"];
        SamplerOptions[] shapes =
        [
            new() { GenLength = 16, Steps = 16, BlockLength = 8, Temperature = 0.8 },
            new() { GenLength = 16, Steps = 16, BlockLength = 8, Schedule = TransferSchedule.Threshold, Threshold = 0.6 },
            new() { GenLength = 8, Steps = 8, BlockLength = 8, Confidence = ConfidenceKind.Random },
        ];
        return Enumerable.Range(0, Workers).Select(w => Enumerable.Range(0, 6).Select(j =>
            new Request(prompts[(w + j) % prompts.Length], names[(w * 3 + j) % names.Count], shapes[(w + j) % shapes.Length] with { Seed = 100 * w + j })).ToArray()).ToArray();
    }

    private IReadOnlyList<long> Run(Request r) =>
        fixture.Generator.Generate(r.Prompt, r.Options, PolicyKitPoliciesPolicyRegistry.Create(r.Policy)).TokenIds;

    [Fact]
    public void Four_parallel_generations_on_one_model_give_the_same_tokens_as_sequential_runs()
    {
        var requests = Requests();
        var sequential = requests.Select(list => list.Select(Run).ToArray()).ToArray();

        using var start = new Barrier(Workers);
        var workers = requests.Select(list => Task.Factory.StartNew(() =>
        {
            // Dispose scopes are per thread, so each worker checks its own thread's live tensors.
            var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            start.SignalAndWait();
            var results = list.Select(Run).ToArray();
            return (results, leaked: DisposeScopeManager.Statistics.ThreadTotalLiveCount - live);
        }, TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(workers, TimeSpan.FromMinutes(5));

        for (var w = 0; w < Workers; w++)
        {
            var (results, leaked) = workers[w].Result;
            Assert.Equal(0, leaked);
            for (var j = 0; j < results.Length; j++)
                Assert.True(sequential[w][j].SequenceEqual(results[j]),
                    $"worker {w} request {j} ({requests[w][j].Policy}, seed {requests[w][j].Options.Seed}) differs from its sequential run");
        }
        // Guard: the requests differ from each other, so a shared or swapped state would show.
        Assert.True(sequential.SelectMany(x => x).Select(t => string.Join(",", t)).Distinct().Count() > Workers);
    }

    [Fact]
    public void Cancelling_one_of_four_parallel_generations_leaves_the_other_three_exact()
    {
        var requests = Requests().Select(list => list[0]).ToArray();
        var sequential = requests.Select(Run).ToArray();

        using var cts = new CancellationTokenSource();
        using var start = new Barrier(Workers);
        var workers = requests.Select((r, w) => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var steps = 0;
            // Worker 0 cancels its own request after two steps; the others run to the end.
            return fixture.Generator.Generate([r.Prompt], r.Options, PolicyKitPoliciesPolicyRegistry.Create(r.Policy),
                w == 0 ? cts.Token : default, _ => { if (w == 0 && ++steps == 2) cts.Cancel(); })[0].TokenIds;
        }, TaskCreationOptions.LongRunning)).ToArray();

        Assert.ThrowsAny<OperationCanceledException>(() => workers[0].GetAwaiter().GetResult());
        for (var w = 1; w < Workers; w++)
            Assert.Equal(sequential[w], workers[w].Result);
    }

    [Fact]
    public void The_shared_tokenizer_encodes_the_same_from_four_threads_as_from_one()
    {
        var tokenizer = fixture.Model.Tokenizer;
        var texts = Enumerable.Range(0, 400).Select(i => $"text {i}: the {new string('a', i % 17)} sat on {i * 7919 % 1000} mats, é{i}").ToArray();
        var expected = texts.Select(tokenizer.Encode).ToArray();
        var results = new int[Workers][][];
        Parallel.For(0, Workers, new ParallelOptions { MaxDegreeOfParallelism = Workers }, w =>
            // Each thread walks the texts in its own order, so cache fills and lookups interleave.
            results[w] = texts.Select((_, i) => tokenizer.Encode(texts[(i * (w + 1) + w) % texts.Length])).ToArray());
        for (var w = 0; w < Workers; w++)
            for (var i = 0; i < texts.Length; i++)
                Assert.Equal(expected[(i * (w + 1) + w) % texts.Length], results[w][i]);
    }
}
