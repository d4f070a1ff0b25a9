using System.CommandLine;
using PolicyKit.Cli.Tuning;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Tasks;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit tune</c>: searches a policy's overridable parameters for the fastest setting whose accuracy stays within
/// a budget of <c>none</c>'s on the given samples (<see cref="ParameterSearch"/>: a coarse grid, then refinement), each
/// round run interleaved against <c>none</c> by bench's machinery, and prints it as an appsettings.json snippet.
/// </summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var policy = new Option<string>("--policy") { Description = "The policy to tune (see `policykit policies`; it needs overridable parameters).", Required = true };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks whose test samples score the settings.", DefaultValueFactory = _ => string.Join(',', TaskSuite.All.Select(t => t.Name)) };
        var data = new Option<FileInfo?>("--data") { Description = "Instead of tasks: your own samples, a JSON Lines file of {\"prompt\": ..., \"answer\": ...}." };
        var match = new Option<string>("--match") { Description = "With --data: how answers are scored, exact or contains.", DefaultValueFactory = _ => "exact" };
        match.AcceptOnlyFromAmong("exact", "contains");
        var genLength = new Option<int>("--gen-length") { Description = "With --data: tokens to generate.", DefaultValueFactory = _ => 64 };
        var blockLength = new Option<int?>("--block-length") { Description = "With --data: block length (default: one block of --gen-length)." };
        var samples = new Option<int>("--samples") { Description = "Samples per task (with --data: the file's first N; default every line).", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "Seed of the test set.", DefaultValueFactory = _ => 0 };
        var budget = new Option<double>("--budget") { Description = "Accuracy the setting may lose against none, in percentage points (1 = one point).", DefaultValueFactory = _ => 1.0 };
        var objective = new Option<string>("--objective")
        {
            Description = "What \"fastest\" means: time (wall-clock speedup against none, measured interleaved) or flops (FLOPs reduction, deterministic).",
            DefaultValueFactory = _ => "time",
        };
        objective.AcceptOnlyFromAmong("time", "flops");
        var batch = new Option<int>("--batch") { Description = "Samples generated together in one batch.", DefaultValueFactory = _ => 1 };
        var chart = new Option<FileInfo?>("--chart") { Description = "Write an SVG chart of every setting tried: accuracy against speed, the Pareto front marked." };
        var json = new Option<FileInfo?>("--json") { Description = "Write every setting tried, the best and the defaults as JSON." };

        var command = new Command("tune",
            "Search a policy's parameters for the fastest setting within an accuracy budget of none; print it as an appsettings.json snippet. " +
            "Ctrl+C stops the search and prints the best setting so far.")
        {
            model, policy, tasks, data, match, genLength, blockLength, samples, seed, budget, objective, batch, device, chart, json,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            string name = parse.GetValue(policy)!;
            Policies.Create(name);  // an unknown name fails here, with the known names
            var descriptor = Policies.Catalog.Get(name);
            var parameters = TunableParameter.Of(descriptor);
            if (parameters.Count == 0)
                throw new ArgumentException($"--policy: '{name}' has no overridable parameters to tune (see `policykit policies`; e.g. dllm-cache, depth-hybrid, prompt-cache).");
            double points = parse.GetValue(budget);
            if (!(points >= 0 && points <= 100)) throw new ArgumentException($"--budget: must be between 0 and 100 percentage points (got {points}).");
            int n = parse.GetValue(samples);
            if (n < 1) throw new ArgumentException("--samples: must be at least 1.");
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new ArgumentException("--batch: must be at least 1.");
            bool byFlops = parse.GetValue(objective) == "flops";
            int gen = parse.GetValue(genLength);
            var dataTask = parse.GetValue(data) is { } file
                ? BenchCommand.LoadData(file, gen, parse.GetValue(blockLength) ?? gen, parse.GetValue(match) == "contains" ? AnswerMatch.Contains : AnswerMatch.Exact, withPromptLength: false)
                : null;

            using var loaded = ModelLocator.Load(parse.GetValue(model), parse.GetValue(device)!);
            var generator = new TextGenerator(loaded);
            var workloads = dataTask is not null
                ? [BenchCommand.DataWorkload(dataTask, loaded, parse.GetResult(samples) is { Implicit: false } ? n : null)]
                : parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(TaskSuite.Get).Select(t => BenchCommand.TaskWorkload(t, n, parse.GetValue(seed))).ToArray();
            if (workloads.Any(w => w.Samples.Any(s => s.Answer is null)))
                throw new ArgumentException("tune needs samples with answers.");

            // none's accuracy is the same in every round (greedy decoding), so one short run fixes the baseline.
            Console.Error.WriteLine($"tune {name}: {parameters.Count} parameters ({string.Join(", ", parameters.Select(p => p.Name))}), " +
                                    $"budget {points:0.##} points, objective {(byFlops ? "FLOPs reduction" : "wall-clock speedup")}");
            var evaluator = new TuneEvaluator(generator, workloads, descriptor, batchSize, byFlops, ct);
            double baseline = evaluator.BaselineAccuracy();
            Console.Error.WriteLine($"none: accuracy {baseline:P1} on {workloads.Sum(w => w.Samples.Count)} samples");
            // Steps = gen length for every task and --data (bench's schedule), so intervals beyond it change nothing.
            var search = new ParameterSearch(parameters, baseline, points, steps: workloads.Max(w => w.GenLength));
            void Report()
            {
                Console.WriteLine(TuneReport.Summary(name, search, baseline, points, byFlops));
                if (search.Evaluated.Count == 0) return;
                if (parse.GetValue(chart) is { } svg) File.WriteAllText(svg.FullName, TuneReport.ParetoSvg(name, search, baseline, points, byFlops));
                if (parse.GetValue(json) is { } file) File.WriteAllText(file.FullName, TuneReport.Json(name, search, baseline, points, byFlops));
            }
            try
            {
                search.Run(evaluator.Evaluate, line => Console.Error.WriteLine($"tune: {line}"));
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("tune: cancelled; the best setting so far:");
                Report();
                throw;
            }
            Report();
            return Task.FromResult(search.Best is null ? 1 : 0);
        }));
        return command;
    }
}

/// <summary>Runs a round of settings against <c>none</c> with bench's interleaved runner and scores them over every workload.</summary>
internal sealed class TuneEvaluator(TextGenerator generator, IReadOnlyList<BenchCommand.Workload> workloads, PolicyDescriptor policy,
    int batchSize, bool byFlops, CancellationToken ct)
{
    private static readonly BenchCommand.Variant None = new("none", Policies.Create("none"), null);

    public double BaselineAccuracy()
    {
        var results = BenchCommand.Run(generator, workloads, [None], batchSize, _ => { }, ct);
        return Pooled(results, r => r.Accuracy ?? 0);
    }

    public IReadOnlyList<Evaluation> Evaluate(IReadOnlyList<Setting> settings)
    {
        var variants = new List<BenchCommand.Variant> { None };
        variants.AddRange(settings.Select(s => new BenchCommand.Variant(s.Key, policy.Create(s.Values), null)));
        var results = BenchCommand.Run(generator, workloads, variants, batchSize, _ => { }, ct);
        return settings.Select(s =>
        {
            var mine = results.Where(r => r.Policy == s.Key).ToList();
            var baseline = results.Where(r => r.Policy == "none").ToList();
            // Pooled over tasks: seconds and accuracy over every sample; FLOPs reduction as the tasks' geometric mean.
            double speedup = baseline.Sum(r => r.Seconds) / mine.Sum(r => r.Seconds);
            double flops = Math.Exp(mine.Average(r => Math.Log(r.FlopsReduction)));
            return new Evaluation(s, byFlops ? flops : speedup, Pooled(mine, r => r.Accuracy ?? 0), speedup, flops);
        }).ToArray();
    }

    private static double Pooled(IEnumerable<BenchResult> results, Func<BenchResult, double> value)
    {
        var list = results.ToList();
        return list.Sum(r => value(r) * r.Samples) / list.Sum(r => r.Samples);
    }
}
