namespace PolicyKit.Tasks;

/// <summary>
/// Multi-step arithmetic that writes every intermediate result (the long-reasoning, GSM8K-like regime where
/// response caching matters): a start value and <c>steps</c> operations <c>+d</c>/<c>-d</c>; the answer is
/// each running value as two digits followed by a comma (3 tokens a step, 48 for 16 steps).
/// </summary>
public sealed class ArithmeticTask(int steps = 16) : IBenchmarkTask
{
    public string Name => "arithmetic";
    public string Description => $"{steps} chained +d/-d operations on a value in 0..99, answer every running value";
    public int GenLength => steps * 3;
    public int BlockLength => 16;

    public TaskSample Sample(Random random)
    {
        int value = random.Next(10, 90);
        var prompt = new System.Text.StringBuilder().Append(value.ToString("D2"));
        var answer = new System.Text.StringBuilder();
        for (int i = 0; i < steps; i++)
        {
            int d = random.Next(1, 10);
            // Keep every running value in 0..99 so each result is exactly two digits.
            bool add = value + d > 99 ? false : value - d < 0 || random.Next(2) == 0;
            value += add ? d : -d;
            prompt.Append(add ? '+' : '-').Append(d);
            answer.Append(value.ToString("D2")).Append(',');
        }
        prompt.Append('=');
        return new TaskSample(Name, prompt.ToString(), answer.ToString());
    }
}
