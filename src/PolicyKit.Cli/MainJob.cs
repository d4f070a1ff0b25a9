using PolicyKit.Diffusion.Generation;
using PolicyKit.Tasks;

namespace PolicyKit.Cli;

/// <summary>
/// What <c>policykit</c> does with no arguments: answer a transform test prompt on the default model without a
/// cache and with <c>dllm-cache</c>, and show both answers, whether they are right, and what each cost.
/// Transform because it is the task the shipped model has learned (models/README.md); a 231-token prompt and
/// a 32-token answer in two blocks still exercise both prompt and response caching.
/// </summary>
internal static class MainJob
{
    private static readonly IBenchmarkTask Task = new TransformTask();

    /// <summary>The sample the main job answers (also the default prompt of <c>policykit generate</c>).</summary>
    public static TaskSample Sample { get; } = TaskSuite.TestSet(Task, 1)[0];

    public static string SamplePrompt => Sample.Prompt;

    public static Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var model = ModelLocator.Load(null, "cpu");
        var generator = new TextGenerator(model);
        var options = generator.DefaultOptions(Task.GenLength, Task.GenLength, Task.BlockLength);
        Console.WriteLine($"model:    {ModelLocator.DefaultModelDirectory()}");
        Console.WriteLine($"task:     {Task.Name} ({Task.Description})");
        Console.WriteLine($"prompt:   ({Sample.QuestionStart} characters of worked examples) {Sample.Question}");
        Console.WriteLine($"expected: {Sample.Answer}");
        // Untimed warm-up of both paths: the first generations pay for LibTorch's lazy initialisation and the
        // JIT, which are not the policy's cost.
        var policies = new[] { "none", Policies.Default };
        foreach (var name in policies) generator.Generate(Sample.Prompt, options, Policies.Create(name), cancellationToken);
        foreach (var name in policies)
        {
            var result = generator.Generate(Sample.Prompt, options, Policies.Create(name), cancellationToken);
            Console.WriteLine($"{name + ":",-11} {result.Text} {(Sample.IsCorrect(result.Text) ? "right" : "wrong")}  " +
                              $"{result.Elapsed.TotalMilliseconds:F0} ms, {result.Flops.Executed / 1e9:F2} of {result.Flops.Full / 1e9:F2} GFLOP " +
                              $"({result.Flops.Reduction:F2}x fewer)");
        }
        return System.Threading.Tasks.Task.FromResult(0);
    }
}
