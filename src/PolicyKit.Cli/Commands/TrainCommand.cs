using System.CommandLine;
using System.Diagnostics;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Runtime;
using PolicyKit.Diffusion.Training;
using PolicyKit.Tasks;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit train</c>: masked-diffusion (or autoregressive) training of a LLaDA- or Dream-layout model on the
/// task suite, reproducible from a seed and resumable from the checkpoint it keeps writing; a run may resume under
/// the other objective (autoregressive pre-training, then adaptation to masked diffusion).
/// </summary>
internal static class TrainCommand
{
    /// <summary>Sequences per step for each task, chosen so every step holds a similar number of tokens.</summary>
    private static readonly Dictionary<string, int> BatchSizes = new()
    {
        ["retrieval"] = 12, ["arithmetic"] = 16, ["transform"] = 24, ["needle"] = 16, ["sort"] = 16, ["running-sum"] = 32,
    };

    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Model directory to write (and to resume from).", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps in total (also the length of the cosine learning-rate schedule).", DefaultValueFactory = _ => 2000 };
        var objective = new Option<string>("--objective")
        {
            Description = "diffusion: masked-diffusion loss, bidirectional attention. ar: causal attention and next-token loss (needs --layout dream). " +
                          "A run may resume under the other objective: train ar first, then --resume --objective diffusion.",
            DefaultValueFactory = _ => "diffusion",
        };
        objective.AcceptOnlyFromAmong("diffusion", "ar");
        var layout = new Option<string>("--layout") { Description = "Layout of a new model: llada, or dream (logits shifted by one, as Dream adapts an autoregressive model).", DefaultValueFactory = _ => "llada" };
        layout.AcceptOnlyFromAmong("llada", "dream");
        var layers = new Option<int>("--layers") { Description = "Transformer layers.", DefaultValueFactory = _ => 6 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size.", DefaultValueFactory = _ => 256 };
        var mlp = new Option<int?>("--mlp") { Description = "SwiGLU hidden size (default: about 8/3 of --hidden)." };
        var heads = new Option<int>("--heads") { Description = "Attention heads.", DefaultValueFactory = _ => 8 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 1e-3 };
        var suffixMasks = new Option<double>("--suffix-masks")
        {
            Description = "Diffusion objective: the share of sequences (0-1) whose masked tokens are a suffix of the response (the left-to-right states an adapted autoregressive model decodes through) instead of drawn one by one.",
            DefaultValueFactory = _ => 0.0,
        };
        var warmup = new Option<int>("--warmup") { Description = "Linear learning-rate warm-up steps.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights, the data and the masks.", DefaultValueFactory = _ => 1 };
        var saveEvery = new Option<int>("--save-every") { Description = "Write a resumable checkpoint every N steps.", DefaultValueFactory = _ => 100 };
        var evalEvery = new Option<int>("--eval-every")
        {
            Description = "Every N steps print each task's exact match on the test set policykit bench scores (0: never). " +
                          "ar: greedy next-token decoding; diffusion: the sampler with no cache.",
            DefaultValueFactory = _ => 0,
        };
        var evalSamples = new Option<int>("--eval-samples") { Description = "Test samples a task for --eval-every.", DefaultValueFactory = _ => 64 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out." };
        var tasks = new Option<string>("--tasks") { Description = $"Comma-separated tasks to train on, one a step in turn (known: {string.Join(", ", TaskSuite.Names)}).", DefaultValueFactory = _ => string.Join(',', TaskSuite.All.Select(t => t.Name)) };
        var device = CommonOptions.Device();

        var command = new Command("train", "Train a model on the task suite (masked diffusion or autoregressive; LLaDA or Dream layout; resumable).")
        {
            output, steps, objective, layout, layers, hidden, mlp, heads, lr, warmup, suffixMasks, seed, saveEvery, evalEvery, evalSamples, resume, tasks, device,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var dir = parse.GetValue(output)!.FullName;
            var taskList = parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(TaskSuite.Get).ToArray();
            if (taskList.Length == 0) throw new ArgumentException("--tasks: name at least one task.");
            var options = new TrainerOptions
            {
                Objective = parse.GetValue(objective) == "ar" ? TrainingObjective.Autoregressive : TrainingObjective.Diffusion,
                TotalSteps = parse.GetValue(steps),
                LearningRate = parse.GetValue(lr),
                MinLearningRate = parse.GetValue(lr) / 10,
                WarmupSteps = parse.GetValue(warmup),
                Seed = parse.GetValue(seed),
                SuffixMaskShare = parse.GetValue(suffixMasks),
            };
            if (options.SuffixMaskShare is < 0 or > 1 || double.IsNaN(options.SuffixMaskShare)) throw new ArgumentException("--suffix-masks: a share from 0 to 1.");
            if (options.TotalSteps < 1) throw new ArgumentException("--steps: must be at least 1.");
            if (options.WarmupSteps < 1) throw new ArgumentException("--warmup: must be at least 1.");
            if (parse.GetValue(saveEvery) < 1) throw new ArgumentException("--save-every: must be at least 1.");
            int everyEval = parse.GetValue(evalEvery), evalCount = parse.GetValue(evalSamples);
            if (everyEval < 0) throw new ArgumentException("--eval-every: must be 0 (never) or more.");
            if (evalCount < 1) throw new ArgumentException("--eval-samples: must be at least 1.");
            // Resolved before anything is written, so a missing GPU leaves --out untouched.
            var deviceName = parse.GetValue(device)!;
            TorchRuntime.ResolveDevice(deviceName);

            if (!parse.GetValue(resume))
            {
                if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                    throw new ArgumentException($"--out: {dir} is not empty (use --resume to continue a run there).");
                var kind = parse.GetValue(layout) == "dream" ? Layout.Dream : Layout.LLaDA;
                if (options.Objective == TrainingObjective.Autoregressive && kind != Layout.Dream)
                    throw new ArgumentException("--objective ar needs --layout dream: a LLaDA-layout row predicts its own token, which causal attention shows it.");
                RandomCheckpoint.Write(dir, kind, new ModelSizes
                {
                    HiddenSize = parse.GetValue(hidden), Layers = parse.GetValue(layers), Heads = parse.GetValue(heads),
                    IntermediateSize = parse.GetValue(mlp), MaxSequenceLength = 1024,
                }, options.Seed);
            }
            else if (!File.Exists(Path.Combine(dir, DiffusionTrainer.StateFileName)))
                throw new ArgumentException($"--resume: no {DiffusionTrainer.StateFileName} in {dir}.");

            using var model = ModelLocator.Load(new DirectoryInfo(dir), deviceName);
            if (options.Objective == TrainingObjective.Autoregressive && !model.Config.ShiftedLogits)
                throw new ArgumentException($"--objective ar needs a Dream-layout model (shifted logits); {dir} is {model.Config.Layout}.");
            using var trainer = new DiffusionTrainer(model, options);
            if (parse.GetValue(resume))
            {
                var before = trainer.Resume(dir);
                if (before != options.Objective)
                    Console.WriteLine($"step {trainer.Step}: switching from the {Name(before)} objective to {Name(options.Objective)} (optimizer moments kept, schedule continues)");
            }

            var progress = new ProgressLine(options.TotalSteps);
            var clock = Stopwatch.StartNew();
            double ema = double.NaN;
            long tokens = 0;
            while (trainer.Step < options.TotalSteps)
            {
                ct.ThrowIfCancellationRequested();
                var task = taskList[trainer.Step % taskList.Length];
                var batch = TaskSuite.TrainBatch(task, options.Seed, trainer.Step, BatchSizes.GetValueOrDefault(task.Name, 16))
                    .Select(s => TaskEncoding.ToExample(s, task, model)).ToArray();
                double loss = trainer.TrainStep(batch);
                ema = double.IsNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
                tokens += batch.Sum(e => e.Prompt.Length + e.Response.Length);
                progress.Report(trainer.Step, $"loss {ema:F3}  lr {options.LearningRateAt(trainer.Step):E1}  {tokens / clock.Elapsed.TotalSeconds:F0} tok/s");
                if (trainer.Step % parse.GetValue(saveEvery) == 0 || trainer.Step == options.TotalSteps) trainer.Save(dir);
                if (everyEval > 0 && (trainer.Step % everyEval == 0 || trainer.Step == options.TotalSteps))
                    Console.WriteLine($"step {trainer.Step} ({clock.Elapsed:hh\\:mm\\:ss}) loss {ema:F3}  exact match (tokens right), {Name(options.Objective)}, {evalCount} test samples: " +
                                      string.Join("  ", taskList.Distinct().Select(t => Score(trainer, model, t, evalCount, options.Objective))));
            }
            progress.Done();
            Console.WriteLine($"trained {options.TotalSteps} steps in {clock.Elapsed:hh\\:mm\\:ss} this run; model in {dir}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static string Name(TrainingObjective objective) => objective == TrainingObjective.Autoregressive ? "ar" : "diffusion";

    /// <summary>
    /// How the model answers the first <paramref name="count"/> test samples (bench's, seed 0), as "exact % (response
    /// tokens right %)". After autoregressive training it is read autoregressively: the response right up to its first
    /// end-of-sequence token under teacher forcing is exactly what greedy next-token decoding answers. After diffusion
    /// training the sampler decodes with no cache, one token a step.
    /// </summary>
    private static string Score(DiffusionTrainer trainer, DiffusionModel model, IBenchmarkTask task, int count, TrainingObjective objective)
    {
        var samples = TaskSuite.TestSet(task, count);
        var examples = samples.Select(s => TaskEncoding.ToExample(s, task, model)).ToArray();
        bool[][] right;
        bool[] exact;
        if (objective == TrainingObjective.Autoregressive)
        {
            right = trainer.GreedyTokenMatches(examples);
            // The answer and the end-of-sequence token after it (when the answer leaves room for one).
            exact = right.Zip(samples).Select(x => x.First.Take(Math.Min(x.Second.Answer.Length + 1, task.GenLength)).All(t => t)).ToArray();
        }
        else
        {
            var generator = new TextGenerator(model);
            var results = generator.Generate(samples.Select(s => s.Prompt).ToArray(), generator.DefaultOptions(task.GenLength, task.GenLength, task.BlockLength));
            right = examples.Zip(results).Select(x => x.First.Response.Zip(x.Second.TokenIds).Select(t => t.First == t.Second).ToArray()).ToArray();
            exact = samples.Zip(results).Select(x => x.First.IsCorrect(x.Second.Text)).ToArray();
        }
        return $"{task.Name} {100 * exact.Average(e => e ? 1.0 : 0.0):F1}% ({100 * right.Average(r => r.Average(t => t ? 1.0 : 0.0)):F0}%)";
    }
}
