using PolicyKit.Diffusion.Model;
using PolicyKit.Diffusion.Training;
using PolicyKit.Tasks;

namespace PolicyKit.Cli;

/// <summary>Task samples as model tokens: the answer followed by end-of-sequence padding up to the task's gen length.</summary>
internal static class TaskEncoding
{
    public static TrainingExample ToExample(TaskSample sample, IBenchmarkTask task, DiffusionModel model)
    {
        var eos = model.Tokenizer.EosTokenId ?? throw new InvalidOperationException("the model's tokenizer has no end-of-sequence token");
        var answer = model.Tokenizer.Encode(sample.Answer);
        if (answer.Length > task.GenLength)
            throw new InvalidOperationException($"{task.Name}: answer of {answer.Length} tokens exceeds gen length {task.GenLength}");
        var response = answer.Concat(Enumerable.Repeat(eos, task.GenLength - answer.Length)).ToArray();
        return new TrainingExample(model.Tokenizer.Encode(sample.Prompt), response);
    }
}
