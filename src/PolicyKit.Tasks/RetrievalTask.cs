namespace PolicyKit.Tasks;

/// <summary>
/// Long prompt, short answer (the LongBench-HotpotQA regime where prompt caching pays): a list of
/// <c>KEY=VAL;</c> records, then <c>?KEY=</c>; the answer is that key's value.
/// </summary>
public sealed class RetrievalTask(int records = 36) : IBenchmarkTask
{
    public string Name => "retrieval";
    public string Description => $"{records} KEY=VAL records (≥ 256 prompt tokens), answer the value of one key";
    public int GenLength => 16;
    public int BlockLength => 16;

    public TaskSample Sample(Random random)
    {
        var keys = new HashSet<string>();
        while (keys.Count < records) keys.Add(Letters(random, 3));
        var pairs = keys.Select(k => (Key: k, Value: random.Next(0, 1000).ToString("D3"))).ToArray();
        var asked = pairs[random.Next(pairs.Length)];
        var prompt = string.Concat(pairs.Select(p => $"{p.Key}={p.Value};")) + $"?{asked.Key}=";
        return new TaskSample(Name, prompt, asked.Value);
    }

    private static string Letters(Random random, int n) =>
        string.Create(n, random, (span, r) => { for (int i = 0; i < span.Length; i++) span[i] = (char)('A' + r.Next(26)); });
}
