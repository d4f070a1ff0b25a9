using PolicyKit.Diffusion.Tokenization;

namespace PolicyKit.Tasks.Tests;

/// <summary>The task texts against the tokenizer the shipped model uses: one token per character, so gen lengths hold.</summary>
public class ShippedTokenizerTests
{
    private static readonly TextTokenizer Tokenizer = TextTokenizer.Load(Path.Combine(RepositoryRoot(), "models", "policykit-ref"));

    [Theory]
    [MemberData(nameof(TaskSuiteTests.Tasks), MemberType = typeof(TaskSuiteTests))]
    [MemberData(nameof(LearnableTaskTests.Tasks), MemberType = typeof(LearnableTaskTests))]
    public void Every_character_of_prompt_and_answer_is_one_token(string name)
    {
        var task = TaskSuite.Get(name);
        var samples = TaskSuite.TestSet(task, 20).Concat(Enumerable.Range(0, 10).SelectMany(step => TaskSuite.TrainBatch(task, 0, step, 2)));
        foreach (var s in samples)
        {
            Assert.Equal(s.Prompt.Length, Tokenizer.Encode(s.Prompt).Length);
            Assert.Equal(s.Answer.Length, Tokenizer.Encode(s.Answer).Length);
            Assert.Equal(s.Answer, Tokenizer.Decode(Tokenizer.Encode(s.Answer)));
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.sln"))) return dir.FullName;
        throw new InvalidOperationException("PolicyKit.sln not found above " + AppContext.BaseDirectory);
    }
}
