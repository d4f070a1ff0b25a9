namespace PolicyKit.Tasks;

/// <summary>
/// A fixed few-shot preamble, as GSM8K-style evaluations prepend worked examples: <c>shots</c> solved samples
/// drawn from a seed of their own (so never a test or training question), each <c>prompt + answer + '|'</c>.
/// It makes the prompt long next to the answer, the regime where caching the prompt pays.
/// </summary>
internal static class FewShot
{
    private const int PreambleSeed = 0x5407;

    public static string Preamble(Func<Random, TaskSample> sample, int shots)
    {
        var random = new Random(PreambleSeed);
        return string.Concat(Enumerable.Range(0, shots).Select(_ => sample(random)).Select(s => s.Prompt + s.Answer + "|"));
    }

    /// <summary>The question with the preamble in front; <see cref="TaskSample.Question"/> stays the question alone.</summary>
    public static TaskSample After(string preamble, TaskSample question) =>
        question with { Prompt = preamble + question.Prompt, QuestionStart = preamble.Length };

    /// <summary>Training draws no preamble half the time and 1..<paramref name="shots"/> examples otherwise.</summary>
    public static int TrainingShots(Random random, int shots) => shots == 0 || random.Next(2) == 0 ? 0 : random.Next(1, shots + 1);
}
