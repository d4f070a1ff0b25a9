using System.CommandLine;
using System.Text.Json;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Profiling;
using PolicyKit.Diffusion.Sampling;
using PolicyKit.Tasks;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit bench</c>: every policy on the same samples in one process, interleaved sample by sample so
/// machine noise hits all policies alike, with <c>none</c> (no cache, no parallel decoding) as the baseline.
/// Reports accuracy (exact match), agreement with <c>none</c>, tokens/s, wall-clock speedup, FLOPs reduction,
/// the share of rows recomputed, seconds and peak cache memory, per policy and task. With
/// <c>--prompt-length N,N,...</c> each length is a task of random prompts, and <c>--chart</c> draws speedup against length.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var policies = new Option<string>("--policies") { Description = "Comma-separated policies (none is always the baseline); name:Parameter=value[:Parameter=value] overrides parameters (e.g. dllm-cache:AdaptiveResponse.Ratio=1), to compare settings in one run.", DefaultValueFactory = _ => "none,prompt-cache,dllm-cache,fast-dllm-prefix,fast-dllm-dual,depth-hybrid" };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks.", DefaultValueFactory = _ => string.Join(',', TaskSuite.All.Select(t => t.Name)) };
        var samples = new Option<int>("--samples") { Description = "Test samples per task.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed") { Description = "Seed of the test set.", DefaultValueFactory = _ => 0 };
        var threshold = new Option<double?>("--threshold") { Description = "Also run every cached policy with Fast-dLLM threshold decoding at this confidence (named policy+tP)." };
        var promptLength = new Option<string?>("--prompt-length") { Description = "Instead of tasks: random prompts of this many tokens (for models without trained answers); several comma-separated lengths (256,1024,4096) bench each in turn." };
        var genLength = new Option<int>("--gen-length") { Description = "With --prompt-length or --data: tokens to generate (steps = gen length).", DefaultValueFactory = _ => 64 };
        var blockLength = new Option<int?>("--block-length") { Description = "With --prompt-length or --data: block length (default: one block of --gen-length)." };
        var data = new Option<FileInfo?>("--data") { Description = "Instead of tasks: your own samples, a JSON Lines file of {\"prompt\": ..., \"answer\": ...} (every line unless --samples is given)." };
        var match = new Option<string>("--match") { Description = "With --data: how answers are scored, exact (trimmed response equals the answer) or contains.", DefaultValueFactory = _ => "exact" };
        match.AcceptOnlyFromAmong("exact", "contains");
        var batch = new Option<int>("--batch") { Description = "Samples generated together in one batch (every policy gets the same batches).", DefaultValueFactory = _ => 1 };
        var json = new Option<FileInfo?>("--json") { Description = "Write the results as JSON." };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Write the results as a markdown table." };
        var chart = new Option<FileInfo?>("--chart") { Description = "Write an SVG chart: accuracy against speedup, or with --prompt-length speedup against prompt length." };
        var profile = ProfileReport.Option();

        var command = new Command("bench", "Run policies side by side on the same samples: accuracy, agreement, speedup, FLOPs reduction.")
        {
            model, policies, tasks, samples, seed, threshold, batch, promptLength, genLength, blockLength, data, match, device, json, markdown, chart, profile,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            int n = parse.GetValue(samples);
            if (n < 1) throw new ArgumentException("--samples: must be at least 1.");
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new ArgumentException("--batch: must be at least 1.");
            var variants = Variants(parse.GetValue(policies)!, parse.GetValue(threshold));
            int gen = parse.GetValue(genLength);
            int block = parse.GetValue(blockLength) ?? gen;
            int[]? lengths = parse.GetValue(promptLength) is { } lengthList ? PromptLengths(lengthList) : null;
            // The file is read and checked before the model loads, so a bad line is reported at once.
            var dataTask = parse.GetValue(data) is { } file
                ? LoadData(file, gen, block, parse.GetValue(match) == "contains" ? AnswerMatch.Contains : AnswerMatch.Exact, lengths is not null)
                : null;
            int? dataSamples = parse.GetResult(samples) is { Implicit: false } ? n : null;
            using var loaded = ModelLocator.Load(parse.GetValue(model), parse.GetValue(device)!);
            var generator = new TextGenerator(loaded);
            var workloads = dataTask is not null ? [DataWorkload(dataTask, loaded, dataSamples)]
                : lengths is not null
                ? RandomWorkloads(loaded, lengths, gen, block, n, parse.GetValue(seed))
                : parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(TaskSuite.Get).Select(t => TaskWorkload(t, n, parse.GetValue(seed))).ToArray();

            // The files are rewritten after every task (every prompt length), so a long run that is stopped keeps what it finished.
            void Write(IReadOnlyList<BenchResult> results)
            {
                if (parse.GetValue(json) is { } j) File.WriteAllText(j.FullName, JsonSerializer.Serialize(new { results }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
                if (parse.GetValue(markdown) is { } m) File.WriteAllText(m.FullName, BenchReport.Markdown(results));
                if (parse.GetValue(chart) is { } c)
                    File.WriteAllText(c.FullName, lengths is not null ? BenchScalingChart.Svg(results) : BenchReport.Svg(results));
            }
            var profiles = ProfileReport.Requested(parse, profile) ? new List<ProfileEntry>() : null;
            var results = Run(generator, workloads, variants, batchSize, Write, ct, profiles);
            Console.WriteLine($"model {loaded.Config.Layout} d{loaded.Config.HiddenSize} x{loaded.Config.NumLayers}, {workloads[0].Samples.Count} samples per task, batch {batchSize}, {loaded.Device.type}");
            Console.WriteLine(BenchReport.Table(results));
            if (profiles is not null) ProfileReport.Emit(parse, profile, profiles);
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>A policy run under a sampler schedule; <c>none</c> without threshold decoding is the baseline.</summary>
    internal sealed record Variant(string Name, ICachePolicy Policy, double? Threshold);

    /// <summary>
    /// Samples of one task with the sampler settings that task is decoded with; <paramref name="Score"/> says whether a
    /// response is right (default: exact match).
    /// </summary>
    internal sealed record Workload(string Task, IReadOnlyList<(string Prompt, string? Answer, int[]? Ids)> Samples, int GenLength, int BlockLength,
        Func<string, string, bool>? Score = null, int? PromptLength = null);

    private static List<Variant> Variants(string list, double? threshold)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        names.Remove("none");
        names.Insert(0, "none");
        var variants = names.Select(x => new Variant(x, Policies.FromSpec(x), null)).ToList();
        if (threshold is double p)
        {
            if (!(p > 0 && p <= 1)) throw new ArgumentException($"--threshold: must be in (0, 1] (got {p}).");
            variants.AddRange(names.Select(x => new Variant($"{x}+t{p:0.##}", Policies.FromSpec(x), p)));
        }
        return variants;
    }

    internal static Workload TaskWorkload(IBenchmarkTask task, int n, int seed) =>
        new(task.Name, TaskSuite.TestSet(task, n, seed).Select(s => (s.Prompt, (string?)s.Answer, (int[]?)null)).ToArray(), task.GenLength, task.BlockLength);

    internal static JsonlTask LoadData(FileInfo file, int gen, int block, AnswerMatch match, bool withPromptLength)
    {
        if (withPromptLength) throw new ArgumentException("--data and --prompt-length exclude each other: choose your samples or random prompts.");
        if (!file.Exists) throw new ArgumentException($"--data: file not found: {file.FullName}");
        try
        {
            return JsonlTask.Load(file.FullName, gen, block, match);
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"--data {e.Message}");
        }
    }

    /// <summary>The file's samples (the first <paramref name="count"/> when given), each checked against the model by its line.</summary>
    internal static Workload DataWorkload(JsonlTask task, DiffusionModel model, int? count)
    {
        var samples = task.Samples.Take(count ?? task.Samples.Count).ToArray();
        int max = model.Config.MaxSequenceLength;
        var errors = new List<string>();
        for (int i = 0; i < samples.Length; i++)
        {
            int line = task.LineNumbers[i];
            int prompt = model.Tokenizer.Encode(samples[i].Prompt).Length, answer = model.Tokenizer.Encode(samples[i].Answer).Length;
            if (prompt + task.GenLength > max)
                errors.Add($"line {line}: prompt of {prompt} tokens + --gen-length {task.GenLength} exceeds the model's maximum sequence length {max}");
            if (answer > task.GenLength)
                errors.Add($"line {line}: the answer is {answer} tokens, longer than --gen-length {task.GenLength}");
        }
        if (errors.Count > 0)
            throw new ArgumentException($"--data {task.Path}: {string.Join("; ", errors.Take(JsonlTask.MaxReportedErrors))}" +
                                        (errors.Count > JsonlTask.MaxReportedErrors ? $"; and {errors.Count - JsonlTask.MaxReportedErrors} more" : "") + ".");
        return new(task.Name, samples.Select(s => (s.Prompt, (string?)s.Answer, (int[]?)null)).ToArray(), task.GenLength, task.BlockLength, task.IsCorrect);
    }

    /// <summary>Parses <c>--prompt-length</c>: one length or several, comma-separated, each a whole number of at least 1.</summary>
    internal static int[] PromptLengths(string list)
    {
        var parts = list.Split(',', StringSplitOptions.TrimEntries);
        var lengths = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int length))
                throw new ArgumentException($"--prompt-length: '{part}' is not a whole number of tokens (give N or N,N,...).");
            if (length < 1) throw new ArgumentException($"--prompt-length: must be at least 1 (got {length}).");
            if (!lengths.Contains(length)) lengths.Add(length);
        }
        return lengths.ToArray();
    }

    /// <summary>One random workload per prompt length, all checked against the model's maximum length before any runs.</summary>
    private static Workload[] RandomWorkloads(DiffusionModel model, int[] lengths, int gen, int block, int n, int seed)
    {
        int max = model.Config.MaxSequenceLength;
        if (lengths.Max() + gen > max)
            throw new ArgumentException($"--prompt-length {lengths.Max()} + --gen-length {gen} exceeds the model's maximum sequence length {max} " +
                                        "(new-model --max-sequence-length makes a longer one).");
        return lengths.Select(length => RandomWorkload(model, length, gen, block, n, seed)).ToArray();
    }

    private static Workload RandomWorkload(DiffusionModel model, int length, int gen, int block, int n, int seed)
    {
        var rng = new Random(seed);
        int top = Math.Min(model.Config.VocabSize, model.Tokenizer.VocabularySize) - 16;  // ordinary tokens, below the special ones
        var prompts = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(0, top)).ToArray()).ToArray();
        return new($"random-{length}", prompts.Select(p => ("", (string?)null, (int[]?)p)).ToArray(), gen, block, PromptLength: length);
    }

    /// <summary>
    /// Runs every variant on every workload, interleaved batch by batch. With <paramref name="profiles"/> each variant's
    /// timed generations (not the warm-up) are profiled, one entry per variant and workload.
    /// </summary>
    internal static List<BenchResult> Run(TextGenerator generator, IReadOnlyList<Workload> workloads, IReadOnlyList<Variant> variants,
        int batchSize, Action<IReadOnlyList<BenchResult>> afterEachWorkload, CancellationToken ct, List<ProfileEntry>? profiles = null)
    {
        var results = new List<BenchResult>();
        var progress = new ProgressLine(workloads.Sum(w => w.Samples.Count));
        int done = 0;
        foreach (var w in workloads)
        {
            var baseOptions = generator.DefaultOptions(w.GenLength, w.GenLength, w.BlockLength);
            // Warm-up outside the clock, every variant once on the first batch: the first forwards pay for LibTorch's
            // lazy initialisation, and a variant's first run for growing the process heap to its peak (its caches,
            // its temporaries), which would otherwise be billed to that variant's first batch. One step per block was
            // tried and is not enough: 370,000 page faults were still left for the first timed batch.
            foreach (var variant in variants)
            {
                progress.Report(done, $"{w.Task}: warming up {variant.Name}");
                Generate(generator, w.Samples.Take(batchSize).ToArray(), Options(baseOptions, variant), variant.Policy, ct);
            }

            // Per variant: each sample's answer, and each batch's wall-clock time and FLOPs (shared by its rows).
            var answers = variants.Select(_ => new List<(GenerationResult Result, bool Correct)>()).ToArray();
            var batches = variants.Select(_ => new List<GenerationResult>()).ToArray();
            var timed = variants.Select(v => profiles is null ? generator : new TextGenerator(generator.Model) { Profiler = new ForwardProfiler() }).ToArray();
            foreach (var chunk in w.Samples.Chunk(batchSize))
            {
                for (int v = 0; v < variants.Count; v++)
                {
                    var rows = Generate(timed[v], chunk, Options(baseOptions, variants[v]), variants[v].Policy, ct);
                    batches[v].Add(rows[0]);
                    answers[v].AddRange(rows.Zip(chunk, (r, sample) =>
                        (r, sample.Answer is not null && (w.Score ?? IsExact)(r.Text, sample.Answer))));
                }
                done += chunk.Length;
                progress.Report(done, $"{w.Task}");
            }

            double baseline = batches[0].Sum(x => x.Elapsed.TotalSeconds);
            for (int v = 0; v < variants.Count; v++)
            {
                var r = answers[v];
                double seconds = batches[v].Sum(x => x.Elapsed.TotalSeconds);
                results.Add(new BenchResult(
                    variants[v].Name, w.Task, r.Count,
                    Accuracy: w.Samples[0].Answer is null ? null : r.Average(x => x.Correct ? 1.0 : 0.0),  // random prompts have no answer
                    Agreement: r.Zip(answers[0], (a, b) => a.Result.TokenIds.SequenceEqual(b.Result.TokenIds) ? 1.0 : 0.0).Average(),
                    TokensPerSecond: r.Count * w.GenLength / seconds,
                    Speedup: baseline / seconds,
                    FlopsReduction: batches[v].Sum(x => x.Flops.Full) / batches[v].Sum(x => x.Flops.Executed),
                    RecomputeFraction: batches[v].Average(x => x.RecomputeFraction),
                    Steps: batches[v].Average(x => x.Steps),
                    PromptLength: w.PromptLength,
                    PeakCacheMiB: batches[v].Max(x => x.CacheBytes) / (1024.0 * 1024.0),
                    Seconds: seconds));
                if (timed[v].Profiler is { } profiler) profiles!.Add(new ProfileEntry(variants[v].Name, w.Task, profiler));
            }
            afterEachWorkload(results);
        }
        progress.Done();
        return results;
    }

    private static bool IsExact(string response, string answer) => new TaskSample("", "", answer).IsCorrect(response);

    private static SamplerOptions Options(SamplerOptions options, Variant variant) =>
        variant.Threshold is double p ? options with { Schedule = TransferSchedule.Threshold, Threshold = p } : options;

    private static IReadOnlyList<GenerationResult> Generate(TextGenerator generator, (string Prompt, string? Answer, int[]? Ids)[] samples,
        SamplerOptions options, ICachePolicy policy, CancellationToken ct) =>
        samples[0].Ids is not null
            ? generator.GenerateIds(samples.Select(s => s.Ids!).ToArray(), options, policy, ct)
            : generator.Generate(samples.Select(s => s.Prompt).ToArray(), options, policy, ct);
}
