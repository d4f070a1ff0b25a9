using System.CommandLine;
using System.Diagnostics;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Runtime;
using PolicyKit.Diffusion.Training;
using PolicyKit.Tasks;

namespace PolicyKit.Cli.Commands;

/// <summary>
/// <c>policykit train</c>: masked-diffusion training of a LLaDA-layout model on the task suite, reproducible
/// from a seed and resumable from the checkpoint it keeps writing.
/// </summary>
internal static class TrainCommand
{
    /// <summary>Sequences per step for each task, chosen so every step holds a similar number of tokens.</summary>
    private static readonly Dictionary<string, int> BatchSizes = new() { ["retrieval"] = 12, ["arithmetic"] = 16, ["transform"] = 24 };

    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Model directory to write (and to resume from).", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps in total.", DefaultValueFactory = _ => 2000 };
        var layers = new Option<int>("--layers") { Description = "Transformer layers.", DefaultValueFactory = _ => 6 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size.", DefaultValueFactory = _ => 256 };
        var mlp = new Option<int?>("--mlp") { Description = "SwiGLU hidden size (default: about 8/3 of --hidden)." };
        var heads = new Option<int>("--heads") { Description = "Attention heads.", DefaultValueFactory = _ => 8 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 1e-3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights, the data and the masks.", DefaultValueFactory = _ => 1 };
        var saveEvery = new Option<int>("--save-every") { Description = "Write a resumable checkpoint every N steps.", DefaultValueFactory = _ => 100 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out." };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks to train on.", DefaultValueFactory = _ => string.Join(',', TaskSuite.All.Select(t => t.Name)) };
        var device = CommonOptions.Device();

        var command = new Command("train", "Train a masked-diffusion model on the task suite (LLaDA layout, resumable).")
        {
            output, steps, layers, hidden, mlp, heads, lr, seed, saveEvery, resume, tasks, device,
        };
        command.SetAction((parse, _) => CliErrors.Guard(ct =>
        {
            var dir = parse.GetValue(output)!.FullName;
            var taskList = parse.GetValue(tasks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(TaskSuite.Get).ToArray();
            var options = new TrainerOptions
            {
                TotalSteps = parse.GetValue(steps),
                LearningRate = parse.GetValue(lr),
                MinLearningRate = parse.GetValue(lr) / 10,
                Seed = parse.GetValue(seed),
            };
            if (options.TotalSteps < 1) throw new ArgumentException("--steps: must be at least 1.");
            // Resolved before anything is written, so a missing GPU leaves --out untouched.
            var deviceName = parse.GetValue(device)!;
            TorchRuntime.ResolveDevice(deviceName);

            if (!parse.GetValue(resume))
            {
                if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                    throw new ArgumentException($"--out: {dir} is not empty (use --resume to continue a run there).");
                RandomCheckpoint.Write(dir, Layout.LLaDA, new ModelSizes
                {
                    HiddenSize = parse.GetValue(hidden), Layers = parse.GetValue(layers), Heads = parse.GetValue(heads),
                    IntermediateSize = parse.GetValue(mlp), MaxSequenceLength = 1024,
                }, options.Seed);
            }
            else if (!File.Exists(Path.Combine(dir, DiffusionTrainer.StateFileName)))
                throw new ArgumentException($"--resume: no {DiffusionTrainer.StateFileName} in {dir}.");

            using var model = ModelLocator.Load(new DirectoryInfo(dir), deviceName);
            using var trainer = new DiffusionTrainer(model, options);
            if (parse.GetValue(resume)) trainer.Resume(dir);

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
            }
            progress.Done();
            Console.WriteLine($"trained {options.TotalSteps} steps in {clock.Elapsed:hh\\:mm\\:ss} this run; model in {dir}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
