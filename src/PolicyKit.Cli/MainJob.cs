using PolicyKit.Diffusion.Generation;
using PolicyKit.Tasks;

namespace PolicyKit.Cli;

/// <summary>
/// What <c>policykit</c> does with no arguments: answer a needle test prompt on the default model without a
/// cache and with <c>dllm-cache</c>, and show both answers, whether they are right, and what each cost.
/// Needle is dLLM-Cache's headline regime: a long prompt (285 tokens) with a short answer, where caching the
/// prompt's features saves the most.
/// </summary>
internal static class MainJob
{
    private static readonly IBenchmarkTask Task = new NeedleTask();

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
        Console.WriteLine(Sample.QuestionStart > 0
            ? $"prompt:   ({Sample.QuestionStart} characters of worked examples) {Sample.Question}"
            : $"prompt:   {Sample.Prompt}");
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
